-- +goose Up
-- Dashboard forms that create something (an app, a key, a webhook
-- endpoint, a payout run, a cash out, an account) carry a one-time token.
-- The first post of a token claims it here and runs; the page it led to
-- is kept with it, so that the same form posted again (a double click, a
-- resubmit after a reload) is sent to that page instead of creating a
-- second one. A claim whose post failed is released, so the form can be
-- sent again; claims are kept for a day.
CREATE TABLE form_posts (
    token       text PRIMARY KEY CHECK (length(token) BETWEEN 16 AND 64),
    -- where the first post led: NULL while it runs
    location    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX form_posts_created_at ON form_posts (created_at);

-- A secret key just made waits here for the one page view that shows it
-- (the page a create form redirects to names it by id): the view takes it
-- out, so a reload of that page shows the key's prefix only. One not
-- viewed within the hour is dropped; the owner makes another key.
CREATE TABLE secret_reveals (
    id          text PRIMARY KEY,          -- rv_…, in the page's address
    user_id     text NOT NULL REFERENCES users (id),
    app_id      text NOT NULL REFERENCES apps (id),
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX secret_reveals_created_at ON secret_reveals (created_at);

-- +goose Down
DROP TABLE secret_reveals;
DROP TABLE form_posts;
