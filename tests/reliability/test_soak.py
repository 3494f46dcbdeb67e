"""A short soak: 30 describe/ask cycles (plus text reading) through the real core, in a fresh process.

benchmarks/soak.py does the work (200 cycles by default; 20 with the real-size
architecture); this runs it briefly on the tiny model and holds it to the
limits: RSS growth after warm-up at most 5 %, stable thread and file-descriptor
counts, no temp files left, no failed action.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_thirty_cycles_leak_nothing(tiny_model_dir):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "soak.py"), "--cycles", "30", "--read-every", "2",
         "--model", str(tiny_model_dir), "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print("\nsoak (30 cycles, tiny model): " + json.dumps(
        {k: figures[k] for k in ("rss_after_warmup_mb", "rss_end_mb", "rss_growth_pct", "threads_python",
                                 "threads_os", "open_fds", "temp_files_left_after_close", "seconds")}))
    assert figures["failure_count"] == 0, figures["failures"]
    assert figures["actions"] == 75 and figures["warmup_cycles"] >= 8
    assert figures["rss_growth_pct"] <= 5.0
    assert figures["threads_python"][1] <= figures["threads_python"][0]
    assert figures["threads_os"][1] <= figures["threads_os"][0] + 2
    assert figures["open_fds"][1] <= figures["open_fds"][0] + 2
    assert figures["temp_files_left_while_running"] == [] and figures["temp_files_left_after_close"] == []
    assert figures["unexpected_files_in_iris_home"] == []
    assert figures["problems"] == []
