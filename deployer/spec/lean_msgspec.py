"""msgspec, imported without typing_extensions when nothing else has loaded that yet.

msgspec reads typing_extensions' type hints if the package is installed (pydantic, which the
webhook receiver uses, brings it along): about 10 ms at every start of `validate`, `synth` or a
release, for types the spec never uses. msgspec falls back to `typing` when the import fails, so
it is made to fail for that one import; typing_extensions stays importable for everyone after.
"""

import sys
from importlib import import_module

if "msgspec" not in sys.modules and "typing_extensions" not in sys.modules:
    sys.modules["typing_extensions"] = None  # `import typing_extensions` raises ImportError meanwhile
    try:
        msgspec = import_module("msgspec")
    finally:
        del sys.modules["typing_extensions"]
else:
    import msgspec

__all__ = ["msgspec"]
