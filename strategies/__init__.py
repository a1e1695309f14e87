"""syncbench's sync strategies: production code that speaks HTTP through httpx only.

A strategy says WHAT to fetch as a generator of effects (`Call`, `FanOut`, `Write`);
a driver (`run_sequential`, `run_threads`, `run_async`) says HOW the calls run.
"""

from strategies.base import Strategy
from strategies.context import Options, SyncContext
from strategies.drivers import FANOUTS, DriverStats, Outcome, run_async, run_sequential, run_threads
from strategies.effects import Call, FanOut, SyncFailed, SyncGen, Write
from strategies.profile import ApiProfile
from strategies.registry import ENTRY_POINT_GROUP, UnknownStrategy, available, get_strategy, resolve

__all__ = [
    "ENTRY_POINT_GROUP",
    "FANOUTS",
    "ApiProfile",
    "Call",
    "DriverStats",
    "FanOut",
    "Options",
    "Outcome",
    "Strategy",
    "SyncContext",
    "SyncFailed",
    "SyncGen",
    "UnknownStrategy",
    "Write",
    "available",
    "get_strategy",
    "resolve",
    "run_async",
    "run_sequential",
    "run_threads",
]
