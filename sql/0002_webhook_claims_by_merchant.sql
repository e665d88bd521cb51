-- Claims take each merchant's oldest due deliveries by key, merchant by merchant, so that one merchant's backlog
-- (an endpoint that hangs, a burst) never stands in front of another's, and a merchant a worker passes over
-- costs it nothing to pass. The index by due time alone served only the claim, which no longer reads it.
CREATE INDEX webhook_logs_merchant_due ON webhook_logs (merchant_id, next_retry_at) WHERE status = 'pending';
DROP INDEX webhook_logs_due;
