-- Rotating the API secret with a grace period: the previous secret authenticates too until
-- api_secret_prev_until, kept only as its hash. The scheduler clears both columns once the grace has ended,
-- recording merchant.api_secret_expired in the same transaction: a row whose grace ended still holding the hash
-- is one whose expiry event is not yet written.
ALTER TABLE merchants ADD COLUMN api_secret_prev_hash text;
ALTER TABLE merchants ADD COLUMN api_secret_prev_until timestamptz;
ALTER TABLE merchants ADD CONSTRAINT merchants_api_secret_prev CHECK (
    (api_secret_prev_hash IS NULL) = (api_secret_prev_until IS NULL));
-- The scheduler's sweep reads only merchants in a grace period.
CREATE INDEX merchants_api_secret_prev_until ON merchants (api_secret_prev_until)
    WHERE api_secret_prev_hash IS NOT NULL;

-- Per-merchant API rate limit: NULL takes api.rate_limit / api.rate_limit_burst; a rate of 0 is unlimited.
ALTER TABLE merchants ADD COLUMN rate_limit integer CHECK (rate_limit >= 0);
ALTER TABLE merchants ADD COLUMN rate_limit_burst integer CHECK (rate_limit_burst >= 1);
