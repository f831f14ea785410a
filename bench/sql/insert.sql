-- The floor for POST /users: the service's INSERT ... RETURNING (service/users.py insert_user).
-- pgbench keeps a client's variables from one transaction to the next, so :n counts per client;
-- with the run's tag and the client id every name is unique. The casts type the parameters
-- that -M prepared sends.
\set n :n + 1
INSERT INTO users (username, email)
VALUES (CAST(:tag AS text) || '_' || CAST(:client_id AS text) || '_' || CAST(:n AS text),
        CAST(:tag AS text) || '_' || CAST(:client_id AS text) || '_' || CAST(:n AS text) || '@bench.example')
RETURNING id, username, email, created_at, updated_at;
