"""`make bench`: the service's performance targets, measured on this machine against real servers.

Each benchmark starts what it needs itself (embedded PostgreSQL, the Temporal dev server, the SMTP
sink, the registry stand-in, the worker and the API, on free ports), prints its progress and a
table of figures with their targets, writes them to bench/results/latest.json, and exits 1 when a
target is missed. Not part of `make test`: figures, not assertions, and minutes, not seconds.

    python -m bench                    # both benchmarks
    python -m bench --only rate --rows 500
    python -m bench --only history --history-rows 5000
"""
