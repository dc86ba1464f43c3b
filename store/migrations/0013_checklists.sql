-- Checklists (seed 003): a partner's catalog of them, the copy assigned to a client when its
-- setup completes, and the director's answers.

CREATE TABLE checklists (
    id          uuid PRIMARY KEY,
    partner_id  uuid NOT NULL REFERENCES partners (id),
    name        text NOT NULL,
    language    text NOT NULL,
    items       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checklists_partner ON checklists (partner_id, created_at, id);

-- The client's own copy, made once: catalog edits and deletions after it change nothing here,
-- so checklist_id is a record of where it came from, not a foreign key.
CREATE TABLE client_checklists (
    client_id     uuid PRIMARY KEY REFERENCES clients (id),
    partner_id    uuid NOT NULL REFERENCES partners (id),
    checklist_id  uuid NOT NULL,
    name          text NOT NULL,
    language      text NOT NULL,
    items         jsonb NOT NULL,
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    -- Every required item answered, the first time: set once, never cleared.
    completed_at  timestamptz
);

-- One answer per item: text for a question, a small document otherwise (the API caps its size).
CREATE TABLE client_checklist_answers (
    client_id     uuid NOT NULL REFERENCES client_checklists (client_id),
    item_key      text NOT NULL,
    text          text,
    filename      text,
    content_type  text,
    content       bytea,
    answered_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, item_key),
    CHECK ((text IS NULL) <> (content IS NULL))
);
