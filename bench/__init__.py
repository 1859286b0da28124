"""mlstack's benchmark harness (`make bench`, `python -m bench.run`): see bench/run.py."""


class BenchError(Exception):
    """The harness cannot go on (the service answered wrongly, a job failed); run.py
    exits with its message."""
