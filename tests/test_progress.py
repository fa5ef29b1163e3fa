"""Progress reporting: the whole-job estimate and per-batch advances."""

from __future__ import annotations

import numpy as np

from fastzdc.mc import MonteCarloGenerator
from fastzdc.progress import StageClock


def test_stage_clock_estimates_the_time_left(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("fastzdc.progress.time.perf_counter", lambda: now[0])
    clock = StageClock("job", total=10, enabled=False)
    assert clock.estimate() == (0.0, None)
    now[0] = 110.0
    clock.tick(2)  # 2 of 10 units in 10 s: 40 s left
    assert clock.estimate() == (10.0, 40.0)
    now[0] = 130.0
    clock.tick(8)
    assert clock.estimate() == (30.0, 0.0)


def test_generators_report_every_batch():
    from fastzdc.mc import simulate

    cond = simulate(300, detectors=("zn",), seed=2).conditions
    steps: list[int] = []
    MonteCarloGenerator("zn").generate(cond, seed=1, batch_size=100, advance=steps.append)
    assert steps == [100, 100, 100] and np.sum(steps) == len(cond)
