-- Fleet-wide rate limits (store/limits.py): one row per limiter key holding its GCRA
-- "theoretical arrival time", the next free slot. Every process on every host takes slots with
-- one atomic statement on the row, timed by the database's clock; nothing is held between
-- requests, so a process that dies leaks nothing.

CREATE TABLE rate_limits (
    key text PRIMARY KEY,          -- e.g. 'registry:https://...', 'api-key:<key id>:default'
    tat timestamptz NOT NULL       -- when the next slot is free (a past time: free now)
);

-- The requests of a sliding-window limiter (the registry's "7 in any second") that are in flight
-- or ended less than a window ago. A row counts while its request runs and for one window after
-- it ended: the far side saw the request before it ended, so a request started a window after
-- the end of the N-th before it can never be the (N+1)-th in any window the far side counts,
-- whatever the delays on the way. An in-flight row stops counting as soon as the connection that
-- wrote it is gone (its process died): no lease outlives its holder.
CREATE TABLE rate_limit_requests (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL,
    backend_pid integer NOT NULL,  -- pg_backend_pid() of the writer's connection
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX rate_limit_requests_key ON rate_limit_requests (key, ended_at);
