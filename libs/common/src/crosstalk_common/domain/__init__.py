"""Values the services' domains share. Pure Python: imports no framework (import-linter)."""
