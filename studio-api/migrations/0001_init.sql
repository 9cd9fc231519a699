-- Switchyard's control-plane schema. One file for SQLite and PostgreSQL:
-- portable types only (TEXT, BIGINT, BYTEA), times as BIGINT epoch
-- milliseconds (see ../shared/MACHINE.md). Every tenant-owned table carries
-- tenant_id and every query in src/db takes it from the authenticated key.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- JSON array of enabled compliance template ids.
    templates TEXT NOT NULL,
    -- Days; NULL means the default of the enabled templates.
    retention_recordings_days BIGINT,
    retention_transcripts_days BIGINT,
    retention_calls_days BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    -- The visible part of the key ("sy_" + 8 characters), to tell keys apart.
    prefix TEXT NOT NULL UNIQUE,
    -- SHA-256 of the whole key, hex. The key itself is never stored.
    hash TEXT NOT NULL UNIQUE,
    -- Space-separated scopes.
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Per-tenant data keys, wrapped (AES-256-GCM) by the master key.
CREATE TABLE data_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE flows (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    draft TEXT NOT NULL,
    etag TEXT NOT NULL,
    live_version BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Published versions: never updated, never deleted.
CREATE TABLE flow_versions (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    flow_name TEXT NOT NULL,
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    digest TEXT NOT NULL,
    -- JSON object: node id -> plugin digest, pinned at publish.
    plugins TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, flow_name, version)
);

-- A called number (E.164) or SIP URI -> a flow. An address belongs to one
-- tenant; inbound calls find their tenant through it.
CREATE TABLE routes (
    address TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    flow_name TEXT NOT NULL,
    environment TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX routes_tenant ON routes (tenant_id);

-- Names a flow uses (endpoints, secrets, numbers, sub-flows), bound per
-- environment. Secrets are sealed and never returned.
CREATE TABLE bindings (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    environment TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    sealed BYTEA,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, environment, kind, name)
);

-- Plugin modules and scripts, content-addressed.
CREATE TABLE plugin_blobs (
    digest TEXT PRIMARY KEY,
    content BYTEA NOT NULL
);

-- A tenant's own plugins: private, never trusted with compliance roles.
CREATE TABLE plugins (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    major BIGINT NOT NULL,
    digest TEXT NOT NULL REFERENCES plugin_blobs (digest),
    kind TEXT NOT NULL,
    manifest TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

-- Plugins installed by the platform operator (`switchyard plugin install`):
-- visible to every tenant, and the only ones that may claim compliance roles.
CREATE TABLE platform_plugins (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    major BIGINT NOT NULL,
    digest TEXT NOT NULL REFERENCES plugin_blobs (digest),
    kind TEXT NOT NULL,
    manifest TEXT NOT NULL,
    installed_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE calls (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    flow_name TEXT NOT NULL,
    -- NULL when a simulation ran a draft.
    flow_version BIGINT,
    channel TEXT NOT NULL,
    environment TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    -- Sealed (AES-256-GCM under the tenant's data key): the event log, the
    -- redacted transcript and the signed evidence.
    data_key_id TEXT NOT NULL,
    events BYTEA,
    transcript BYTEA,
    evidence BYTEA,
    -- A file in the recording store, itself sealed.
    recording TEXT,
    transcript_erased_at BIGINT,
    recording_erased_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX calls_started ON calls (tenant_id, started_at);
CREATE INDEX calls_from ON calls (tenant_id, from_number);
CREATE INDEX calls_to ON calls (tenant_id, to_number);

CREATE TABLE webhooks (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    -- JSON array of event types.
    events TEXT NOT NULL,
    -- The signing secret, sealed; shown once at creation.
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- pending | delivered | failed
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

-- Append-only: src/db/mod.rs adds a trigger on each backend that refuses
-- UPDATE and DELETE.
CREATE TABLE audit_log (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_at ON audit_log (tenant_id, at);
