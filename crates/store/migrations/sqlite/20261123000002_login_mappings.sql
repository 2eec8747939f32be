-- Admin mappings (B5): a Mattermost user may link the Microsoft account known by this address
-- although it differs from their Mattermost email.
CREATE TABLE login_mappings (
    mm_user_id      TEXT PRIMARY KEY,
    microsoft_login TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
