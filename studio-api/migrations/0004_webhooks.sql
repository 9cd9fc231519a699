-- Webhooks (issue 5, item 6).

-- Which of the tenant's data keys sealed `webhooks.secret`: the secret must
-- be opened to sign every delivery, so it is sealed, not hashed, and the
-- sealing key has to be found again after new data keys appear.
ALTER TABLE webhooks ADD COLUMN secret_key_id TEXT;

-- One webhook's delivery log, newest first (ids sort by creation time).
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (tenant_id, webhook_id, id);
