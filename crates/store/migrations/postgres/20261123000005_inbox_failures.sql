-- Failed attempts of an inbox item, counted apart from `attempts` (every claim, the fencing
-- token): a throttled or held retry and a lease taken over after a crash are not failures, so they
-- do not use up the item's attempt budget. Reset when a dead letter is requeued.
ALTER TABLE inbox ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
