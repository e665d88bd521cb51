"""The domain: states and their transitions, validation, the operations (each a use case, run in phases around
the processor), the processors, idempotency, and webhook signing and delivery. Knows nothing of HTTP requests."""
