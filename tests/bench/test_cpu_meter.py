"""bench/cpu.py on real processes: a "master" with two children, one busy and one
asleep, measured as the harness measures gunicorn's workers."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.cpu import CpuMeter
from tests.stackrun import descendants

MASTER = """
import subprocess, sys, time
busy = subprocess.Popen([sys.executable, "-c", "import time\\nend = time.time() + 30\\nwhile time.time() < end: pass"])
idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
print("ready", flush=True)
sys.stdin.read()
busy.kill(); idle.kill()
"""


def test_the_busy_worker_has_the_cpu_and_the_idle_one_none():
    master = subprocess.Popen(
        [sys.executable, "-c", MASTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert master.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while len(descendants(master.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        meter = CpuMeter({"gunicorn": master.pid})
        meter.start()
        time.sleep(1.5)
        split = meter.stop()
    finally:
        master.communicate("", timeout=30)
    assert len(split["worker_cores"]) == 2
    busy, idle = split["worker_cores"]
    assert busy > 0.2 and idle < 0.05, split  # a shared machine gives the busy one less
    assert split["worker_share"][0] > 0.9, split
    # runnable counts the time queued for a CPU too: at least the time on one
    assert split["worker_runnable"][0] >= busy - 0.02 and split["worker_runnable"][1] < 0.05
    assert split["stack_cores"] >= busy - 0.02
