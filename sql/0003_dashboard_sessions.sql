-- Dashboard sessions live in a sealed cookie; the ones signed out are remembered here, in Postgres, so that a
-- copy of a signed-out cookie stays refused when Redis loses its data (a FLUSHALL, a restart without
-- persistence). A row is needed only while a cookie sealed before the sign-out could still be within its idle
-- allowance: after expires_at the cookie is refused as idle anyway, and the scheduler purges the row.
-- The id of an ended session opens nothing (the cookie is sealed under the master key), so it is kept plain.
CREATE TABLE dashboard_sessions_ended (
    session_id   text PRIMARY KEY CHECK (session_id ~ '^[A-Za-z0-9_-]{16,64}$'),
    merchant_id  text NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    ended_at     timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CHECK (expires_at > ended_at)
);
CREATE INDEX dashboard_sessions_ended_expiry ON dashboard_sessions_ended (expires_at);
