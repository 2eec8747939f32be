-- A run of a user's job requested (set_schedule) while a replica holds a live claim on it. The
-- claim is kept, so no second replica runs that user's job at the same time, and the request waits
-- here: the holder's finish or release makes the row due at the earlier of its own next time and
-- rerun_at. NULL when nothing was requested during the claim.
ALTER TABLE user_schedules ADD COLUMN rerun_at TIMESTAMPTZ;
