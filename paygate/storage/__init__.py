"""Storage: SQL and rows to dicts. No HTTP here."""
