"""How the history bench reads rows/s through a continue-as-new from its progress samples."""

from __future__ import annotations

from bench.history import boundary_rates


def _samples(
    rate_at: dict[int, float], runs_at: dict[int, int], seconds: int = 100
) -> list[tuple[float, int, int]]:
    """One sample a second: rows settled so far and the run number, from rows/s per second."""
    samples: list[tuple[float, int, int]] = []
    settled, run = 0.0, 1
    for t in range(seconds + 1):
        run = runs_at.get(t, run)
        samples.append((float(t), int(settled), run))
        settled += rate_at.get(t, 10.0)
    return samples


def test_a_dip_at_a_boundary_is_measured_against_the_steady_rate() -> None:
    # 10 rows/s, but 2 rows/s for the 4 s after the boundary at t=50.
    samples = _samples(dict.fromkeys(range(50, 54), 2.0), {50: 2})
    steady, around = boundary_rates(samples, rows=int(samples[-1][1]))
    assert steady is not None and abs(steady - 10.0) < 0.2
    [rate] = around
    assert abs(rate - (6 * 10 + 4 * 2) / 10) < 1.1


def test_a_boundary_as_the_import_ends_is_left_out() -> None:
    # A run continuing as new a second before the last rows: its window would count the drain.
    samples = _samples(dict.fromkeys(range(96, 101), 0.0), {40: 2, 95: 3})
    steady, around = boundary_rates(samples, rows=int(samples[-1][1]))
    assert steady is not None and abs(steady - 10.0) < 0.2
    assert len(around) == 1 and abs(around[0] - 10.0) < 1.1
