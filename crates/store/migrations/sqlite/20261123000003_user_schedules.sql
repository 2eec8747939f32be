-- Per-user job schedules (daily summary, reminder check, status check): when each user's run of a
-- job is next due, and which replica has claimed it. Timestamps are RFC 3339 UTC text, as in the
-- initial schema, so range comparisons and ORDER BY due_at are in time order.
-- updated_at is when the schedule was last set (set_schedule or a finished run), not claims.
CREATE TABLE user_schedules (
    mm_user_id       TEXT NOT NULL,
    job              TEXT NOT NULL,
    due_at           TEXT NOT NULL,
    claimed_by       TEXT,
    claim_expires_at TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (mm_user_id, job)
);
-- "Which users' runs of this job are due now", oldest first, as an index range scan.
CREATE INDEX user_schedules_due ON user_schedules (job, due_at);
