"""Release trains: several services released in waves, with one decision."""
