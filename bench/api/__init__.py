"""The simulated API core and its pieces; pure Python, no I/O."""

from bench.api.base import SimRequest, SimResponse
from bench.api.core import SimulatedAPI, format_ts, parse_ts

__all__ = ["SimRequest", "SimResponse", "SimulatedAPI", "format_ts", "parse_ts"]
