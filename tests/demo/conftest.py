"""Fixtures of the demo tests: the tiny checkpoint loaded once, and a pass whose windows take a little time each,
so that tests of what is shown *while* a video is analysed do not depend on how fast the machine is."""

import time

import pytest
import torch

import dfer.demo.analysis
from dfer.demo import ModelCache

# Each window's report waits this long: a 4 s video of 1 s windows every 0.5 s (7 windows) then takes at least
# 0.35 s, long enough for the snapshots in between to be seen.
WINDOW_DELAY = 0.05


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    """(model, processor) of the tiny checkpoint."""
    return ModelCache(torch.device("cpu")).get(str(tiny_checkpoint))


@pytest.fixture
def slow_windows(monkeypatch):
    """The demo's pass reports each window `WINDOW_DELAY` seconds late."""
    real = dfer.demo.analysis.predict_timeline

    def delayed(*args, on_window=None, **kwargs):
        def report(result):
            time.sleep(WINDOW_DELAY)
            on_window(result)

        return real(*args, on_window=report, **kwargs)

    monkeypatch.setattr(dfer.demo.analysis, "predict_timeline", delayed)
