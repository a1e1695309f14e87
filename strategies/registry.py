"""Strategies by name: the built-in ones and those installed under `syncbench.strategies`."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points

from strategies.base import Strategy
from strategies.client_filter import ClientFilter
from strategies.full_pagination import FullPagination
from strategies.reservation_early_stop import ReservationEarlyStop
from strategies.since_incremental import SinceIncremental

__all__ = ["ALL", "ENTRY_POINT_GROUP", "UnknownStrategy", "available", "get_strategy", "resolve"]

ENTRY_POINT_GROUP = "syncbench.strategies"
BUILTIN: tuple[type[Strategy], ...] = (FullPagination, ClientFilter, ReservationEarlyStop, SinceIncremental)
#: the name that stands for every installed strategy in a list such as `--strategies all`
ALL = "all"


class UnknownStrategy(LookupError):
    """A strategy name that is neither built in nor installed; the message lists the available ones."""


def available() -> dict[str, type[Strategy]]:
    """Every strategy by name, built-ins first, then plugins in name order."""
    found = {cls.name: cls for cls in BUILTIN}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name not in found:
            found[ep.name] = ep.load()
    return found


def resolve(names: Iterable[str], *, allow_all: bool = False) -> list[str]:
    """The strategy names a user gave (`--strategy`, `--strategies`, a sweep's manifest), checked.

    `[ALL]`, where allowed, is every installed strategy. Built-in names are checked without
    scanning the installed plugins (10-30 ms a scan).
    """
    names = list(names)
    if allow_all and ALL in names:
        if names != [ALL]:
            raise UnknownStrategy(f"{ALL!r} means every strategy: give it alone, not in a list ({','.join(names)})")
        return list(available())
    builtin = {cls.name for cls in BUILTIN}
    installed: dict[str, type[Strategy]] | None = None
    for name in names:
        if name not in builtin:
            installed = installed if installed is not None else available()
            _lookup(name, installed)
    return names


def get_strategy(name: str) -> Strategy:
    """A strategy by name; a built-in without scanning the installed plugins (which every run of a sweep would pay)."""
    for cls in BUILTIN:
        if cls.name == name:
            return cls()
    return _lookup(name, available())()


def _lookup(name: str, installed: dict[str, type[Strategy]]) -> type[Strategy]:
    if name not in installed:
        raise UnknownStrategy(f"unknown strategy {name!r} (available: {', '.join(installed)})")
    return installed[name]
