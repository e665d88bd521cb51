-- Responses that reveal a secret (a rotated webhook secret) are kept sealed under the master key, not in the
-- clear; this says which rows hold such a sealed response.
ALTER TABLE idempotency_keys ADD COLUMN response_sealed boolean NOT NULL DEFAULT false;

-- Request hashes written before this release were unkeyed SHA-256s of the request, and a card payment's request
-- holds the card number and CVV: recomputing over the 1,000 possible CVVs finds the CVV. Those of card payments
-- are erased now rather than left readable until they expire. Such a key still replays its response to a retry
-- with the same method and path; only a different body under it is no longer told apart (for idempotency.ttl).
-- Other requests' old hashes hold no card data and keep being compared as they were until they expire.
UPDATE idempotency_keys SET request_hash = 'redacted'
 WHERE request_path = '/api/v1/payments' AND request_hash NOT LIKE 'v1:%';
