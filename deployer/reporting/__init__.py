"""How results and progress are shown. No decisions here, only rendering."""
