"""`make bench`: the service's performance targets, measured on this machine against real servers;
`make chaos`: faults under load, then the invariants (bench/chaos.py).

Each benchmark starts what it needs itself (embedded PostgreSQL, the Temporal dev server, the SMTP
sink, the registry stand-in, the worker and the API, in this process or in processes of their own,
on free ports), prints its progress and a table of figures with their targets, writes them to
bench/results/latest.json, and exits 1 when a target is missed. Not part of `make test`: figures,
not assertions, and minutes, not seconds.

    python -m bench                              # every benchmark
    python -m bench --only rate --rows 500
    python -m bench --only fleet --fleet-rows 300
    python -m bench --only throughput --throughput 200
    python -m bench --only latency --latency 200
    python -m bench --only memory --memory-rows 10000
    python -m bench --only history --history-rows 5000
"""
