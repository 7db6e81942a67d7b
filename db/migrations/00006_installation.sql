-- +goose Up
-- One row that names this database. `agentlinks dev` keeps the Temporal dev
-- server's state in DATA_DIR under this id, so the workflows of one
-- database never resume against another: a second database, or this one
-- dropped and made again, gets a Temporal state of its own.
CREATE TABLE installation (
    id         text PRIMARY KEY DEFAULT replace(gen_random_uuid()::text, '-', ''),
    one        boolean NOT NULL DEFAULT true UNIQUE CHECK (one),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation DEFAULT VALUES;

-- +goose Down
DROP TABLE installation;
