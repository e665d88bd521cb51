-- Webhook endpoints: a merchant's receivers beyond the seed's one, each with its own URL, secret and subscribed
-- event types. The merchant row's webhook_url (the seed's) stays as it was: the implicit endpoint, subscribed to
-- every event, whose deliveries carry no endpoint_id.
CREATE TABLE webhook_endpoints (
    id                 text PRIMARY KEY CHECK (id ~ '^we_[A-Za-z0-9]{16,}$'),
    merchant_id        text NOT NULL REFERENCES merchants (id),
    url                text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description        text CHECK (length(description) <= 500),
    -- event types, or '*' for every one
    enabled_events     text[] NOT NULL CHECK (cardinality(enabled_events) BETWEEN 1 AND 100),
    -- AES-GCM under the master key, as the merchant's; the previous one signs too until secret_prev_until
    secret_enc         text NOT NULL,
    secret_prev_enc    text,
    secret_prev_until  timestamptz,
    -- by the merchant, or by paygate after a 410 Gone (disabled_reason says which)
    disabled           boolean NOT NULL DEFAULT false,
    disabled_reason    text,
    -- deleted endpoints are kept for their deliveries' history and answered as not found
    deleted_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- One delivery per event and endpoint; the implicit endpoint's have no endpoint_id.
ALTER TABLE webhook_logs ADD COLUMN endpoint_id text REFERENCES webhook_endpoints (id);
ALTER TABLE webhook_logs DROP CONSTRAINT webhook_logs_event_id_key;
CREATE UNIQUE INDEX webhook_logs_event_endpoint ON webhook_logs (event_id, coalesce(endpoint_id, ''));
CREATE INDEX webhook_logs_endpoint_created ON webhook_logs (endpoint_id, created_at DESC, id DESC)
    WHERE endpoint_id IS NOT NULL;
