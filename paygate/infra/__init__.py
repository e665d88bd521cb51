"""What everything stands on: configuration, errors, crypto, Redis (broker, queue), batching, metrics, logging,
the embedded Postgres and Redis, and where the sql/ and static/ folders are."""
