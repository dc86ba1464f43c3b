-- The firm's time zone (an IANA name, checked with zoneinfo by the API): the console shows and
-- reads every date and time in it; instants stay stored in UTC (timestamptz). Existing firms keep
-- what the console assumed so far.
ALTER TABLE partners ADD COLUMN time_zone text NOT NULL DEFAULT 'Europe/Paris';
