"""The bounds of the run settings (`strategies.Options`), one table for every place settings come from.

The command line, a sweep's manifest and a gate baseline's entries all hold run settings;
each checks them here before anything runs, so an out-of-range value (a negative retry
budget, an infinite lookback) is refused in one line naming the setting instead of
failing deep inside a run.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Annotated, Any

from pydantic import AfterValidator

from bench.run.runner import MAX_WORKERS
from strategies import Options

__all__ = ["BOUNDS", "MAX_LOOKBACK_S", "CheckedOptions", "check_options", "option_problem"]

#: a bookmark overlap longer than this (about 31 years) reaches before any record a scenario holds
MAX_LOOKBACK_S = 1e9

#: setting -> (least, greatest); None: no bound on that side. Settings not listed are not numbers.
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "workers": (1, MAX_WORKERS),
    "account_workers": (1, MAX_WORKERS),
    "page_size": (1, None),
    "throttle": (0.001, None),
    "max_retries": (0, None),
    "lookback_s": (0, MAX_LOOKBACK_S),
    "chunk_size": (1, None),
    "max_pages": (1, None),
}


def _range(least: float | None, greatest: float | None) -> str:
    if greatest is None:
        return f"at least {least:g}"
    return f"between {least:g} and {greatest:g}"


def option_problem(options: Options) -> tuple[str, str] | None:
    """The first setting out of its bounds or of the wrong type, as (setting, "must be ..., not X")."""
    for spec in fields(options):
        value: Any = getattr(options, spec.name)
        if spec.name not in BOUNDS or value is None:
            continue
        least, greatest = BOUNDS[spec.name]
        integral = spec.name not in ("throttle", "lookback_s")
        if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
            return spec.name, f"must be {'an integer' if integral else 'a number'}, not {_shown(value)}"
        if (
            math.isnan(value)
            or (least is not None and value < least)
            or (greatest is not None and value > greatest)
            or math.isinf(value)
        ):
            return spec.name, f"must be {_range(least, greatest)}, not {_shown(value)}"
    return None


def check_options(options: Options) -> Options:
    """`options` unchanged, or ValueError naming the first setting out of bounds (a pydantic validator too)."""
    problem = option_problem(options)
    if problem is not None:
        raise ValueError(f"{problem[0]} {problem[1]}")
    return options


#: `Options` as a document holds them: typed by pydantic, bounded here
CheckedOptions = Annotated[Options, AfterValidator(check_options)]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
