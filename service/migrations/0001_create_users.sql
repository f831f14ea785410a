-- Users, as in the seed, with the database enforcing what the API promises.
CREATE TABLE users (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username   text NOT NULL,
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_username_length CHECK (char_length(username) BETWEEN 3 AND 50),
    CONSTRAINT users_email_length CHECK (char_length(email) <= 100)
);

-- Emails are unique whatever their case: Alice@x.org and alice@x.org are one mailbox.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- GET /users walks newest first by (created_at, id): keyset pagination reads this index.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);
