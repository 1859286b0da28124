"""Give the C heap's free pages back to the system.

glibc keeps memory that Python and NumPy freed mapped in the process, to reuse it; in a
forked gunicorn worker those pages count as its own memory although nothing lives in
them. After a burst of temporary arrays (a worker proving its compiled predictors right
after the fork) `malloc_trim` returns them. No library wraps this one libc call."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def trim() -> bool:
    """Collect the young garbage and return free heap pages; False without glibc."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    trim_heap = getattr(libc, "malloc_trim", None)
    if trim_heap is None:  # musl and others: nothing to call
        return False
    trim_heap(0)
    return True
