-- The language a partner user reads their e-mails in (the collaborators' "client ready" notice).
-- Existing users keep French, the language every partner was set up in so far.
ALTER TABLE partner_users ADD COLUMN language text NOT NULL DEFAULT 'fr'
    CONSTRAINT partner_users_language CHECK (language IN ('fr', 'nl', 'en', 'de'));
