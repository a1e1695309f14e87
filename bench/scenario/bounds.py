"""The bounds of every scenario field, and how a refusal states them (`allowed`).

Every number has an upper bound and every float is finite, so no value can make a run
overflow a timestamp or never end; counts are bounded far above what fits in memory, which
bench/world/estimate.py checks before a world is built.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "COUNT_MAX",
    "DAY_S",
    "EARLIEST",
    "LATEST",
    "PAGE_MAX",
    "SECONDS_MAX",
    "SEED_MAX",
    "TIMING_MAX",
    "Count",
    "Model",
    "allowed",
]

#: records per account or per sync: far above any world that fits in memory
COUNT_MAX = 10**12
#: page sizes
PAGE_MAX = 100_000
DAY_S = 86_400
#: simulated offsets, windows and durations: a year
SECONDS_MAX = 366 * DAY_S
#: the cost of one request, connection or statement: an hour
TIMING_MAX = 3_600
SEED_MAX = 2**63 - 1
#: dates (the scenario's start, literal records' timestamps)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

Count = Annotated[int, Field(ge=0, le=COUNT_MAX)]


class Model(BaseModel):
    """A scenario table: unknown fields refused, floats finite, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def allowed(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """What the field at `loc` accepts, in words, from the model's JSON schema (None: not known)."""
    schema = _schema(model)
    defs = schema.get("$defs", {})
    node: dict[str, Any] = schema
    for part in loc:
        node, _ = _resolve(node, defs)
        if isinstance(part, int):
            if "prefixItems" in node:
                items = node["prefixItems"]
                node = items[part] if part < len(items) else {}
            elif isinstance(node.get("items"), dict):
                node = node["items"]
            else:
                return None
            continue
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif props:
            return "the fields " + ", ".join(props)
        else:
            return None
    return _describe(*_resolve(node, defs))


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="validation")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The node behind a `$ref` or an optional (`X | None`), and whether it may be none."""
    optional = False
    while True:
        if "$ref" in node:
            node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        elif "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            optional = optional or len(options) < len(node["anyOf"])
            if len(options) != 1:
                return node, optional
            node = {**options[0], **{k: v for k, v in node.items() if k not in ("anyOf", "default")}}
        else:
            return node, optional


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _describe(node: dict[str, Any], optional: bool) -> str | None:
    text = node.get("allowed") or _kind(node)
    if text is None:
        return None
    return f"{text}, or none" if optional else text


def _kind(node: dict[str, Any]) -> str | None:
    if "enum" in node or "const" in node:
        return "one of " + ", ".join(repr(v) for v in node.get("enum", [node.get("const")]))
    kind = node.get("type")
    if kind in ("integer", "number"):
        noun = "an integer" if kind == "integer" else "a finite number"
        lo = [f">= {_number(node['minimum'])}"] if "minimum" in node else []
        lo += [f"> {_number(node['exclusiveMinimum'])}"] if "exclusiveMinimum" in node else []
        hi = [f"<= {_number(node['maximum'])}"] if "maximum" in node else []
        hi += [f"< {_number(node['exclusiveMaximum'])}"] if "exclusiveMaximum" in node else []
        return " ".join([noun, " and ".join(lo + hi)]).strip()
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        if node.get("format") == "date-time":
            return f"a date-time with a time zone, from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"
        shortest, longest = node.get("minLength", 0), node.get("maxLength")
        return f"text of {shortest} to {longest:,} characters" if longest is not None else "text"
    if kind == "array":
        fewest, most = node.get("minItems", 0), node.get("maxItems")
        return f"a list of {fewest} to {most:,} items" if most is not None else "a list"
    if kind == "object":
        return "a table"
    return None
