-- paygate schema. Invariants live here, not only in Python: closed status sets,
-- money never negative, captured <= authorized, refunded <= captured.
-- Money is bigint in the currency's minor unit.

CREATE TABLE merchants (
    id                         text PRIMARY KEY CHECK (id ~ '^mer_[A-Za-z0-9]{16,}$'),
    name                       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email                      text NOT NULL UNIQUE,
    api_key                    text NOT NULL UNIQUE,
    -- sha256 hex of the API secret, for authentication
    api_secret_hash            text NOT NULL,
    -- the API secret sealed (AES-GCM under the master key): checkout signs its answers with it, as
    -- HMAC-SHA256(secret, order_id|payment_id), which the merchant's server verifies
    api_secret_enc             text NOT NULL,
    webhook_url                text,
    -- AES-GCM under the master key (base64 of nonce || ciphertext).
    webhook_secret_enc         text,
    webhook_secret_prev_enc    text,
    webhook_secret_prev_until  timestamptz,
    webhook_enabled            boolean NOT NULL DEFAULT true,
    webhook_disabled_reason    text,
    is_active                  boolean NOT NULL DEFAULT true,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id              text PRIMARY KEY CHECK (id ~ '^order_[A-Za-z0-9]{16,}$'),
    merchant_id     text NOT NULL REFERENCES merchants (id),
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    receipt         text CHECK (length(receipt) <= 40),
    notes           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(notes) = 'object'),
    capture_method  text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual')),
    status          text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'attempted', 'paid')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_merchant_created ON orders (merchant_id, created_at DESC, id DESC);
CREATE INDEX orders_merchant_status ON orders (merchant_id, status, created_at DESC);
CREATE INDEX orders_merchant_receipt ON orders (merchant_id, receipt) WHERE receipt IS NOT NULL;

CREATE TABLE payments (
    id                 text PRIMARY KEY CHECK (id ~ '^pay_[A-Za-z0-9]{16,}$'),
    order_id           text NOT NULL REFERENCES orders (id),
    merchant_id        text NOT NULL REFERENCES merchants (id),
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    method             text NOT NULL CHECK (method IN ('card', 'upi')),
    vpa                text,
    card_network       text,
    card_last4         char(4) CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_expiry_month  smallint CHECK (card_expiry_month BETWEEN 1 AND 12),
    card_expiry_year   smallint,
    -- keyed hash of the PAN (HMAC under the master key): lets a merchant spot a repeat card, reveals nothing.
    card_fingerprint   text,
    -- the processor's opaque token for the instrument; the card number itself is never stored
    processor_token    text NOT NULL,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'processing', 'success', 'failed')),
    capture_method     text NOT NULL CHECK (capture_method IN ('automatic', 'manual')),
    captured           boolean NOT NULL DEFAULT false,
    amount_captured    bigint NOT NULL DEFAULT 0,
    amount_refunded    bigint NOT NULL DEFAULT 0,
    captured_at        timestamptz,
    -- an authorization given back: the rest after a partial capture, or one left uncaptured too long
    released_at        timestamptz,
    error_code         text,
    error_description  text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_method_details CHECK (
        (method = 'card' AND card_network IS NOT NULL AND card_last4 IS NOT NULL AND vpa IS NULL)
        OR (method = 'upi' AND vpa IS NOT NULL AND card_last4 IS NULL)
    ),
    CONSTRAINT payments_captured_within_authorized CHECK (amount_captured BETWEEN 0 AND amount),
    CONSTRAINT payments_refunded_within_captured CHECK (amount_refunded BETWEEN 0 AND amount_captured),
    CONSTRAINT payments_captured_flag CHECK (captured = (amount_captured > 0)),
    CONSTRAINT payments_capture_needs_success CHECK (NOT captured OR status = 'success'),
    CONSTRAINT payments_failure_has_code CHECK ((status = 'failed') = (error_code IS NOT NULL))
);
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_merchant_status ON payments (merchant_id, status, created_at DESC);
CREATE INDEX payments_merchant_method ON payments (merchant_id, method, created_at DESC);
CREATE INDEX payments_order ON payments (order_id, created_at);
-- the scheduler's scans: unfinished payments, and authorizations waiting for capture
CREATE INDEX payments_unfinished ON payments (updated_at) WHERE status IN ('pending', 'processing');
CREATE INDEX payments_uncaptured ON payments (created_at)
    WHERE status = 'success' AND NOT captured AND released_at IS NULL;

CREATE TABLE refunds (
    id                 text PRIMARY KEY CHECK (id ~ '^rfnd_[A-Za-z0-9]{16,}$'),
    payment_id         text NOT NULL REFERENCES payments (id),
    merchant_id        text NOT NULL REFERENCES merchants (id),
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason             text CHECK (length(reason) <= 255),
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed', 'failed')),
    error_code         text,
    error_description  text,
    processed_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_failure_has_code CHECK ((status = 'failed') = (error_code IS NOT NULL))
);
CREATE INDEX refunds_merchant_created ON refunds (merchant_id, created_at DESC, id DESC);
CREATE INDEX refunds_merchant_status ON refunds (merchant_id, status, created_at DESC);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_unfinished ON refunds (updated_at) WHERE status = 'pending';

CREATE TABLE events (
    id           text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9]{16,}$'),
    merchant_id  text NOT NULL REFERENCES merchants (id),
    type         text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    object_id    text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_merchant_created ON events (merchant_id, created_at DESC, id DESC);
CREATE INDEX events_merchant_type ON events (merchant_id, type, created_at DESC);
CREATE INDEX events_object ON events (object_id, created_at);

CREATE TABLE webhook_logs (
    id               text PRIMARY KEY CHECK (id ~ '^whd_[A-Za-z0-9]{16,}$'),
    merchant_id      text NOT NULL REFERENCES merchants (id),
    event_id         text NOT NULL UNIQUE REFERENCES events (id),
    event            text NOT NULL,
    url              text NOT NULL,
    -- exactly the bytes that are signed and sent, on every attempt
    payload          text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_retry_at    timestamptz,
    last_attempt_at  timestamptz,
    response_code    integer,
    response_body    text,
    -- the next attempt was asked for by hand (API, CLI or dashboard)
    manual_retry     boolean NOT NULL DEFAULT false,
    -- held by the worker sending it; no second worker sends it meanwhile, even if its job is enqueued twice
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_logs_pending_has_due CHECK (status <> 'pending' OR next_retry_at IS NOT NULL)
);
CREATE INDEX webhook_logs_due ON webhook_logs (next_retry_at) WHERE status = 'pending';
CREATE INDEX webhook_logs_merchant_created ON webhook_logs (merchant_id, created_at DESC, id DESC);
CREATE INDEX webhook_logs_merchant_status ON webhook_logs (merchant_id, status, created_at DESC);
CREATE INDEX webhook_logs_merchant_event ON webhook_logs (merchant_id, event, created_at DESC);

CREATE TABLE webhook_attempts (
    id              bigserial PRIMARY KEY,
    webhook_log_id  text NOT NULL REFERENCES webhook_logs (id),
    number          integer NOT NULL CHECK (number >= 1),
    trigger         text NOT NULL CHECK (trigger IN ('initial', 'automatic', 'manual')),
    status_code     integer,
    response_body   text CHECK (length(response_body) <= 1024),
    error           text,
    duration_ms     integer NOT NULL CHECK (duration_ms >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_log_id, number)
);

CREATE TABLE idempotency_keys (
    merchant_id      text NOT NULL REFERENCES merchants (id),
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_method   text NOT NULL,
    request_path     text NOT NULL,
    request_hash     text NOT NULL,
    state            text NOT NULL DEFAULT 'in_flight' CHECK (state IN ('in_flight', 'completed')),
    -- identifies the request holding the claim, so a request whose lease was taken over cannot complete it
    claim_token      text NOT NULL,
    response_status  integer,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, key),
    CONSTRAINT idempotency_completed_has_response CHECK (
        state = 'in_flight' OR (response_status IS NOT NULL AND response_body IS NOT NULL)
    )
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
