-- The floor for GET /users/{id}: the service's query (service/users.py select_user), ids drawn
-- at random from the seeded range, prepared (-M prepared) as asyncpg prepares it.
\set id random(1, :max_id)
SELECT id, username, email, created_at, updated_at FROM users WHERE id = :id;
