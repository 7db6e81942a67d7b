-- +goose Up
-- The dashboard's lists: a program's newest conversions and refunds, and a
-- creator's, without scanning the program.
CREATE INDEX conversions_app_created_idx ON conversions (app_id, created_at DESC, id DESC);
CREATE INDEX conversions_app_creator_idx ON conversions (app_id, creator_id, created_at DESC);
CREATE INDEX refunds_app_created_idx ON refunds (app_id, created_at DESC, id DESC);

-- Every move of a referred customer to another creator (or an
-- unattributed customer given one), by whom and when: attribution is
-- locked at signup, so an owner changing it leaves a trace.
CREATE TABLE referral_moves (
    id              bigserial PRIMARY KEY,
    referral_id     text NOT NULL REFERENCES referrals (id),
    app_id          text NOT NULL REFERENCES apps (id),
    from_creator_id text REFERENCES creators (id),   -- NULL: the customer had no creator
    to_creator_id   text NOT NULL REFERENCES creators (id),
    moved_by        text NOT NULL REFERENCES users (id),
    moved_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referral_moves_app_idx ON referral_moves (app_id, moved_at DESC);

-- +goose Down
DROP TABLE referral_moves;
DROP INDEX refunds_app_created_idx;
DROP INDEX conversions_app_creator_idx;
DROP INDEX conversions_app_created_idx;
