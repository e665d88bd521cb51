"""HTTP handlers: parse, call an operation, shape the answer. No SQL here."""
