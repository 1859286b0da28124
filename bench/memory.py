"""Memory of the stack's processes, from /proc: RSS and PSS per supervised program
(with its children), USS per gunicorn worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.stackrun import descendants

KINDS = ("rss_mb", "pss_mb", "uss_mb")


def process_memory(pid: int) -> dict[str, float]:
    """RSS, PSS and USS of one process, in MB."""
    kb = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, rest = line.split(":", 1)
        kb[key] = int(rest.split()[0])
    return {
        "rss_mb": kb["Rss"] / 1024,
        "pss_mb": kb["Pss"] / 1024,
        "uss_mb": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024,
    }


def program_memory(pid: int) -> dict[str, float]:
    """A program's figures summed over it and its descendants still alive."""
    mems = [
        process_memory(p) for p in [pid, *sorted(descendants(pid))] if Path(f"/proc/{p}").exists()
    ]
    return {k: round(sum(m[k] for m in mems), 1) for k in KINDS}


def stack_memory(programs: dict[str, int]) -> dict[str, Any]:
    """Totals over the stack's programs (name -> pid), each program's figures, and
    the USS of every gunicorn worker."""
    per_program = {name: program_memory(pid) for name, pid in programs.items()}
    workers = [process_memory(p) for p in sorted(descendants(programs["gunicorn"]))]
    return {
        "total_rss_mb": round(sum(p["rss_mb"] for p in per_program.values()), 1),
        "total_pss_mb": round(sum(p["pss_mb"] for p in per_program.values()), 1),
        "programs": per_program,
        "gunicorn_worker_uss_mb": [round(m["uss_mb"], 1) for m in workers],
    }
