-- +goose Up
-- A person with a login. One person may own apps and be a creator in other
-- apps' programs; an operator also sees the platform.
CREATE TABLE users (
    id            text PRIMARY KEY,              -- acc_…
    email         text NOT NULL CHECK (email LIKE '%@%'),
    password_hash text NOT NULL,                 -- argon2id, PHC string
    operator      boolean NOT NULL DEFAULT false,
    -- Bumped when the password changes: a session made before it ends.
    session_epoch integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

-- The owner of an app (apps made before accounts, or by an operator
-- without --owner, have none until one is set).
ALTER TABLE apps ADD COLUMN owner_id text REFERENCES users (id);
CREATE INDEX apps_owner_idx ON apps (owner_id);

-- The account a creator signs in with. A creator an operator enrolled by
-- email has none until linked: an account is never tied to a creator by
-- its email alone, which nobody has verified.
ALTER TABLE creators ADD COLUMN user_id text UNIQUE REFERENCES users (id);

-- Dashboard sessions (github.com/alexedwards/scs/pgxstore's table).
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
ALTER TABLE creators DROP COLUMN user_id;
ALTER TABLE apps DROP COLUMN owner_id;
DROP TABLE users;
