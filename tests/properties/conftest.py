"""Hypothesis profiles for the no-miss properties.

`ci` (the default) is fast and deterministic: a fixed number of examples, derandomized,
no example database, no deadline (a sync of a small world takes tens of milliseconds of
host time, more in the thread fan-out). `thorough` explores a thousand examples per
property and keeps found failures in the example database: select it with
`HYPOTHESIS_PROFILE=thorough pytest tests/properties`.

The profiles are applied to these tests only (through `tests.properties.harness.profile()`),
never loaded as the global default, so other test modules keep their own settings.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
    stateful_step_count=8,
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
    stateful_step_count=25,
)
