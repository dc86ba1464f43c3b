-- New clients' notifications stay off until someone switches them on (the registration page's
-- promise): a firm-level default an onboarding request may override. Firms that exist keep what
-- they had so far (switched on at the end of setup: false); firms made from now on start with
-- the promise kept (true), the column's default once the existing rows are filled.
ALTER TABLE partners ADD COLUMN new_clients_muted boolean NOT NULL DEFAULT false;
ALTER TABLE partners ALTER COLUMN new_clients_muted SET DEFAULT true;

-- A checklist assigned, replaced or withdrawn on a client at any time: each assignment of a
-- client is numbered (1, 2, ...) so the notice to the director is keyed on (client, number) in
-- workflow ids and in the e-mail log, with no personal data. Copies made at setup are number 1.
ALTER TABLE client_checklists ADD COLUMN assignment integer NOT NULL DEFAULT 1;

-- The last number used per client, kept when a checklist is withdrawn, so a later assignment
-- never reuses a number (and its e-mail-log key) already notified.
ALTER TABLE clients ADD COLUMN checklist_assignments integer NOT NULL DEFAULT 0;
UPDATE clients c SET checklist_assignments = 1
WHERE EXISTS (SELECT 1 FROM client_checklists k WHERE k.client_id = c.id);
