"""The progress line of ``zoo fit`` off a terminal, from hand-computed cases."""

from __future__ import annotations

import math

from zoo.cli.fit_progress import ProgressLines, format_duration


def test_durations():
    assert [format_duration(s) for s in (0, 41.4, 59.6, 333, 3600, 7500)] == ["0s", "41s", "1m00s", "5m33s", "1h00m",
                                                                                "2h05m"]


def test_line_gives_step_mean_loss_rate_and_eta():
    # 680 steps left at 2 steps/s: 340 s
    assert ProgressLines.line(120, 800, [90.0, 110.0], 2.0) == "step 120/800  loss 100  2 steps/s  ETA 5m40s"
    assert ProgressLines.line(5, math.inf, [], 0.25) == "step 5  0.25 steps/s"
