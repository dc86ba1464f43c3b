-- migrate: no-transaction
-- "My clients" (GET /v1/clients?collaborator=, the console's clients list) reads a user's
-- collaborations by user id; the primary key (client_id, user_id) serves only the client-first
-- direction. The same index serves deleting a partner user (ON DELETE CASCADE from
-- partner_users), which had to scan the whole table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS client_collaborators_user ON client_collaborators (user_id, client_id);
