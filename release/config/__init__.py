"""Reading a config repo (a working tree or any git revision) into the typed model."""
