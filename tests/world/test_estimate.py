"""A world's memory is estimated from the scenario's fields and refused above the limit before anything is built."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bench.scenario.model import Scenario, ScenarioError, load_scenario, shipped_scenarios
from bench.studies.scale import resize, study
from bench.world.dataset import build_world, generate
from bench.world.estimate import DEFAULT_MAX_MIB, check_world, set_max_world_mib, world_mib


def scenario_file(tmp_path: Path, dataset: str) -> Path:
    path = tmp_path / "pms.toml"
    path.write_text(f'name = "pms"\n[dataset]\n{dataset}\n', encoding="utf-8")
    return path


def test_the_shipped_scenarios_and_the_scaling_sizes_fit_the_default_limit() -> None:
    """2048 MiB admits every shipped scenario and `scale --sizes 1000,10000,100000` of `large`."""
    for name in shipped_scenarios():
        check_world(load_scenario(name))
    large = load_scenario("large")
    for size in (1000, 10_000, 100_000):
        check_world(resize(large, size))
    assert world_mib(resize(large, 100_000)) < DEFAULT_MAX_MIB / 2


@pytest.mark.parametrize(
    ("dataset", "field"),
    [
        ("conversations = 1000000000", "dataset.conversations = 1,000,000,000"),
        ("accounts = 1000\nconversations = 100000\nmessages = [1, 19]\nhistory_days = 365", "dataset.accounts = 1,000"),
        ("conversations = 1000\nmessages = [1, 10000000]", "dataset.messages = [1, 10000000]"),
    ],
)
def test_a_world_too_large_is_refused_before_anything_is_built(tmp_path: Path, dataset: str, field: str) -> None:
    """One line naming the file, the field that dominates and the estimate; no allocation beyond the check."""
    path = scenario_file(tmp_path, dataset)
    scenario = load_scenario(str(path))
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError) as caught:
            generate(scenario)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: the world would need about "), message
    assert message.endswith("MiB (limit 2,048 MiB, --max-world-mib)") and "\n" not in message
    assert peak < 5 * 2**20


def test_the_scaling_study_refuses_a_size_too_large_before_any_run() -> None:
    """`scale --sizes 1000000000000` is refused by the estimate, not by a MemoryError."""
    with pytest.raises(ScenarioError, match=r"dataset.conversations = 1,000,000,000,000: the world would need"):
        study(load_scenario("large"), [1000, 10**12], ["full-pagination"], "async", 1, 1)
    with pytest.raises(ScenarioError, match=r"--sizes 10000000000000: dataset.conversations: .*\(allowed: "):
        study(load_scenario("large"), [10**13], ["full-pagination"], "async", 1, 1)


def test_the_limit_can_be_raised_or_lowered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parameter, or `set_max_world_mib` for this process and the processes it starts (`--max-world-mib`)."""
    pms = load_scenario("pms-1000")
    with pytest.raises(ScenarioError, match=r"limit 1 MiB"):
        check_world(pms, max_mib=1)
    monkeypatch.setenv("SYNCBENCH_MAX_WORLD_MIB", "2048")  # restored after the test
    set_max_world_mib(1)
    with pytest.raises(ScenarioError, match=r"pms-1000.toml: dataset.conversations = 1,000: .* \(limit 1 MiB"):
        generate(pms)
    huge = load_scenario("large").model_copy(update={"dataset": resize(load_scenario("large"), 10**7).dataset})
    set_max_world_mib(10**6)
    check_world(huge)


@pytest.mark.parametrize("overrides", [{}, {"dataset": {"conversations": 20_000, "messages": [20, 20]}}])
def test_the_estimate_is_within_a_factor_of_two_of_what_a_world_takes(overrides: dict[str, dict[str, object]]) -> None:
    """The fixed formula stays calibrated: a built world's traced memory is between half and twice the estimate."""
    base = load_scenario("pms-1000").model_dump()
    for section, values in overrides.items():
        base[section] |= values
    scenario = Scenario.model_validate(base)
    tracemalloc.start()
    try:
        world = build_world(scenario)
        world.timeline()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    measured = peak / 2**20
    assert world_mib(scenario) / 2 <= measured <= world_mib(scenario) * 2, (measured, world_mib(scenario))
