"""Process pools for the commands that spread work over cores (sweeps, fault matrices, report plots)."""

from __future__ import annotations

import signal
from concurrent.futures import ProcessPoolExecutor

__all__ = ["process_pool"]


def _leave_ctrl_c_to_parent() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose workers ignore Ctrl-C: the parent stops the work (exit 130), and an idle worker
    does not print a traceback when Ctrl-C reaches the whole process group."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_leave_ctrl_c_to_parent)
