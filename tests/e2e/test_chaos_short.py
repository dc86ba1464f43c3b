"""The short scenario of `make chaos`: a batch of onboardings and an import through real worker and
API processes, two workers SIGKILLed and PostgreSQL restarted under them, then every invariant
read back from PostgreSQL, the SMTP sink, the partner app and Temporal.

It starts and stops its own servers (PostgreSQL on a data directory of its own, the Temporal dev
server on a SQLite file of its own), as `make chaos` does: restarting the session's PostgreSQL
would break every other test's connections.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos import ChaosConfig, run


async def test_killed_workers_and_a_postgres_restart_lose_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    """10 onboardings and a 5-row import, 2 worker SIGKILLs and one PostgreSQL restart: all READY,
    nothing twice, nothing lost."""
    outcome = await run(
        ChaosConfig(
            minutes=0.4,
            onboardings=10,
            import_rows=5,
            kills=2,
            main_workers=1,
            faults=("kill", "postgres"),
            settle_minutes=3,
            seed=12,
            scratch=tmp_path,
        )
    )
    injected = sorted(f.fault for f in outcome.faults)
    assert injected == ["kill", "kill", "postgres"], outcome.faults
    broken = [f"{i.name}: {i.detail}" for i in outcome.failed()]
    assert not broken, broken
    assert len(outcome.invariants) >= 9
    assert outcome.settled_after is not None
