"""The scenario format documentation names every field and every shipped scenario."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from bench.scenario.model import Scenario, shipped_scenarios

DOC = (Path(__file__).parents[2] / "docs" / "scenarios.md").read_text(encoding="utf-8")


def _fields(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names |= _fields(kind)
    return names


def test_every_scenario_field_is_documented() -> None:
    """A field added to the model without a line in docs/scenarios.md fails here."""
    from bench.scenario.model import NextSync, RateLimit

    forms = ("`{}`", "[{}]", "[[{}]]")
    fields = _fields(Scenario) | _fields(NextSync) | _fields(RateLimit)
    missing = {f for f in fields if not any(form.format(f) in DOC for form in forms)}
    assert not missing, f"undocumented scenario fields: {sorted(missing)}"


def test_every_shipped_scenario_is_documented() -> None:
    """Each shipped scenario has a row in the table of shipped scenarios."""
    assert all(f"`{name}`" in DOC for name in shipped_scenarios())
