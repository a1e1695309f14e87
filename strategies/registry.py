"""Strategies by name: the built-in ones and those installed under `syncbench.strategies`."""

from __future__ import annotations

from importlib.metadata import entry_points

from strategies.base import Strategy
from strategies.client_filter import ClientFilter
from strategies.full_pagination import FullPagination
from strategies.reservation_early_stop import ReservationEarlyStop
from strategies.since_incremental import SinceIncremental

__all__ = ["ENTRY_POINT_GROUP", "UnknownStrategy", "available", "get_strategy"]

ENTRY_POINT_GROUP = "syncbench.strategies"
BUILTIN: tuple[type[Strategy], ...] = (FullPagination, ClientFilter, ReservationEarlyStop, SinceIncremental)


class UnknownStrategy(LookupError):
    pass


def available() -> dict[str, type[Strategy]]:
    """Every strategy by name, built-ins first, then plugins in name order."""
    found = {cls.name: cls for cls in BUILTIN}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name not in found:
            found[ep.name] = ep.load()
    return found


def get_strategy(name: str) -> Strategy:
    """A strategy by name; a built-in without scanning the installed plugins (10-30 ms a scan,
    which every run of a sweep would pay)."""
    for cls in BUILTIN:
        if cls.name == name:
            return cls()
    strategies = available()
    if name not in strategies:
        raise UnknownStrategy(f"unknown strategy {name!r} (available: {', '.join(strategies)})")
    return strategies[name]()
