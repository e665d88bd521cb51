-- Every money movement in phases: the intent is committed before the processor is called and the outcome after,
-- so that a crash between the two leaves a state that says which call may have been made (see
-- paygate/operations/processing.py).

-- payment:  success (authorized, uncaptured) ──▶ capture_pending ──▶ success (captured)
--                                            ──▶ void_pending ────▶ voided
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (
    status IN ('pending', 'processing', 'success', 'failed', 'capture_pending', 'void_pending', 'voided'));
-- The amount of the capture in flight (capture_pending only).
ALTER TABLE payments ADD COLUMN capture_pending_amount bigint;
ALTER TABLE payments ADD CONSTRAINT payments_capture_pending_amount CHECK (
    (status = 'capture_pending') = (capture_pending_amount IS NOT NULL)
    AND coalesce(capture_pending_amount, 1) BETWEEN 1 AND amount);
-- Numbers the captures and voids asked of the processor: each has its own idempotency reference, so one asked
-- again after a decline is not answered with the decline the processor keeps for the first.
ALTER TABLE payments ADD COLUMN processor_attempt integer NOT NULL DEFAULT 0 CHECK (processor_attempt >= 0);
-- Why the authorization was voided: asked for (API, dashboard, CLI) or its window ended.
ALTER TABLE payments ADD COLUMN void_reason text CHECK (void_reason IN ('requested', 'expired'));
ALTER TABLE payments ADD CONSTRAINT payments_void_has_reason CHECK (
    status NOT IN ('void_pending', 'voided') OR void_reason IS NOT NULL);

DROP INDEX payments_unfinished;
CREATE INDEX payments_unfinished ON payments (updated_at)
    WHERE status IN ('pending', 'processing', 'capture_pending', 'void_pending');

-- The payment of this order that is at the processor now: no other payment of the order is sent until its
-- outcome is recorded, so two payments of one order never both take the shopper's money.
ALTER TABLE orders ADD COLUMN processing_payment_id text;

-- refund:  pending ──▶ processing ──▶ processed | failed
ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_status_check CHECK (
    status IN ('pending', 'processing', 'processed', 'failed'));
DROP INDEX refunds_unfinished;
CREATE INDEX refunds_unfinished ON refunds (updated_at) WHERE status IN ('pending', 'processing');

-- The test-mode simulator's own books: what an acquirer keeps on its side, one row per idempotency reference.
-- paygate never reads it; the simulator answers fetch() from it, and tests compare it with paygate's tables.
CREATE TABLE simulator_ledger (
    reference          text PRIMARY KEY,
    operation          text NOT NULL CHECK (operation IN ('authorize', 'sale', 'capture', 'void', 'refund')),
    -- the authorization the call acts on: its own reference for authorize and sale
    auth_reference     text NOT NULL,
    amount             bigint NOT NULL CHECK (amount >= 0),
    currency           char(3) NOT NULL,
    -- the test instrument's behaviour (its magic number's), kept with every call on the authorization
    scenario           text NOT NULL,
    approved           boolean NOT NULL,
    error_code         text,
    error_description  text,
    -- how many times the reference was called: a retry is answered from this row, not acted on again
    calls              integer NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX simulator_ledger_auth ON simulator_ledger (auth_reference);
