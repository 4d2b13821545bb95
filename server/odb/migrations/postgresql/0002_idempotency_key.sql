-- A write's idempotency key: a repeat of a request with the same key returns the deployment the first one created.
ALTER TABLE deployments ADD COLUMN idempotency_key TEXT;

CREATE UNIQUE INDEX deployments_idempotency_key ON deployments (idempotency_key) WHERE idempotency_key IS NOT NULL;
