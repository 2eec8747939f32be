-- Initial schema, PostgreSQL flavour. Shared by every replica of a deployment.

-- One row per Mattermost user who ever linked a Microsoft account. Re-linking reuses the row.
CREATE TABLE account_links (
    mm_user_id       TEXT PRIMARY KEY,
    teams_user_id    TEXT NOT NULL,
    teams_login      TEXT NOT NULL,
    sealed_token     TEXT,
    token_expires_at TIMESTAMPTZ,
    connected_at     TIMESTAMPTZ NOT NULL,
    disconnected_at  TIMESTAMPTZ
);
-- A Teams account belongs to at most one connected Mattermost account.
CREATE UNIQUE INDEX account_links_active_teams_user
    ON account_links (teams_user_id) WHERE disconnected_at IS NULL;
CREATE INDEX account_links_token_expiry
    ON account_links (token_expires_at) WHERE disconnected_at IS NULL;

-- Sign-in round trips in flight. The state itself is never stored, only its SHA-256.
CREATE TABLE oauth_states (
    state_hash           TEXT PRIMARY KEY,
    mm_user_id           TEXT NOT NULL,
    purpose              TEXT NOT NULL,
    sealed_pkce_verifier TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    expires_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

CREATE TABLE user_preferences (
    mm_user_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (mm_user_id, name)
);

CREATE TABLE graph_subscriptions (
    id                TEXT PRIMARY KEY,
    purpose           TEXT NOT NULL,
    resource          TEXT NOT NULL,
    change_type       TEXT NOT NULL,
    owner_mm_user_id  TEXT,
    client_state_hash TEXT NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX graph_subscriptions_expiry ON graph_subscriptions (expires_at);
CREATE INDEX graph_subscriptions_purpose ON graph_subscriptions (purpose);

-- Durable inbox: every accepted webhook item lands here before Graph gets its 202.
-- Workers claim rows with FOR UPDATE SKIP LOCKED, so replicas never block on each other.
CREATE TABLE inbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             TEXT NOT NULL,
    dedupe_key       TEXT UNIQUE,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         BIGINT NOT NULL DEFAULT 0,
    received_at      TIMESTAMPTZ NOT NULL,
    available_at     TIMESTAMPTZ NOT NULL,
    claimed_by       TEXT,
    claim_token      TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error       TEXT,
    finished_at      TIMESTAMPTZ
);
CREATE INDEX inbox_ready ON inbox (status, available_at, id);

-- "Tell recipient R about item K" happens at most once.
CREATE TABLE deliveries (
    recipient      TEXT NOT NULL,
    item_key       TEXT NOT NULL,
    state          TEXT NOT NULL,
    holder         TEXT,
    reserved_until TIMESTAMPTZ,
    external_id    TEXT,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recipient, item_key)
);
CREATE INDEX deliveries_updated ON deliveries (updated_at);

CREATE TABLE chat_cursors (
    chat_id         TEXT PRIMARY KEY,
    last_message_at TIMESTAMPTZ NOT NULL,
    last_message_id TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    fence       BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
