"""The shortcuts that keep the harness fast must not change what it does."""

from __future__ import annotations

import gc
from collections.abc import Callable
from unittest import mock

import httpx
import pytest

import strategies.registry
from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario
from bench.transport.sim import _query
from strategies import Call, Options, UnknownStrategy, get_strategy
from strategies.drivers import _absolute_prefix, _target


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/accounts/acc-1/conversations", {"limit": 100, "offset": 0}),
        ("/v1/accounts/acc-1/conversations", {"since": "2026-03-01 09:00:00.000", "odd": "a&b=c", "blank": ""}),
        ("/v1/accounts/acc-1/conversations?cursor=WzE3NzIsIDVd&limit=100", None),
        ("/v1/accounts?x=1&x=2&y=%2F", None),
        ("/v1/accounts", None),
    ],
)
def test_query_is_read_as_httpx_reads_it(path: str, params: dict[str, object] | None) -> None:
    """The cached query parse gives what `url.params.items()` gives: first value per name, in order."""
    with httpx.Client(base_url="http://api.sim") as client:
        url = client.build_request("GET", path, params=params).url
    assert list(_query(url.query)) == list(url.params.items())


def test_builtin_strategies_are_found_without_scanning_plugins() -> None:
    """A built-in resolves without reading installed entry points; anything else still goes to the registry."""
    with mock.patch.object(strategies.registry, "entry_points", side_effect=AssertionError("scanned")):
        assert get_strategy("client-filter").name == "client-filter"
    with pytest.raises(UnknownStrategy):
        get_strategy("no-such-strategy")


def test_a_run_leaves_the_garbage_collector_as_it_found_it(make_scenario: Callable[..., Scenario]) -> None:
    """Nothing stays frozen after a run, whether it succeeds or raises."""
    scenario = make_scenario()
    run(RunSpec(scenario, "client-filter", "threads", Options(workers=3)))
    assert gc.get_freeze_count() == 0
    with pytest.raises(UnknownStrategy):
        run(RunSpec(scenario, "no-such-strategy"))
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    "base_url", ["http://api.sim", "https://user:pw@api.example:8443/prefix/", "http://api.sim/v?key=1", ""]
)
@pytest.mark.parametrize("client_params", [None, {"access_token": "t"}])
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/accounts/acc-1/conversations", {"limit": 100, "offset": 0}),
        ("/v1/accounts/acc-1/conversations", {"since": "2026-03-01 09:00:00.000", "flag": True, "none": None}),
        ("/v1/accounts/acc-1/conversations", {"flag": True}),
        ("/v1/accounts/acc-1/conversations", {"flag": 1}),  # equal to True as a cache key, not as a query
        ("/v1/accounts/acc-1/conversations", {"flag": 1.0}),
        ("/v1/accounts/acc-1/conversations", {"many": ["a", "b"]}),
        ("/v1/accounts/acc-1/conversations?cursor=WzE3NzIsIDVd%3D&limit=100", {}),
        ("/v1/accounts/acc-1/conversations?cursor=old", {"limit": 5}),
        ("/v1/accounts/a b/é", {"q": "x/y?z"}),
        ("http://elsewhere.example/next?page=2", {}),
        ("//elsewhere.example/next", {}),
        ("relative/path", {"limit": 1}),
    ],
)
def test_driver_requests_go_where_params_would_send_them(
    base_url: str, client_params: dict[str, str] | None, path: str, params: dict[str, object]
) -> None:
    """Params encoded into the URL by the driver give the very URL that httpx's `params=` gives."""
    with httpx.Client(base_url=base_url, params=client_params) as client:
        expected = client.build_request("GET", path, params=params or None).url
        url, rest = _target(_absolute_prefix(client), Call("GET", path, params))
        built = client.build_request("GET", url, params=rest).url
    assert str(built) == str(expected) and built.raw_path == expected.raw_path
