"""Reading back the JSON documents syncbench writes: one loader, a pydantic model per document.

`load_document` reads a file and validates it against its model, strictly as JSON (an
integer is not a float or a boolean, and nothing is coerced), and turns any problem into
one `HarnessError` line naming the file, the field (pydantic's location, dotted) and what
is wrong: `out/results.json: not a valid results document: results.3.strategy: missing`.
Writers keep their own serializer (`json_text`), so files stay byte for byte what they
were; the parts a reader passes on or writes back (rows, baseline entries) are `Checked`:
validated against their model, kept exactly as read. This module holds the model of
results.json; the other documents' models live beside the code that writes them (the
sweep manifest and saved runs in bench.run.sweep, the gate baseline in bench.studies.gate,
cassette metadata in bench.recordings.cassette, the scaling study in bench.studies.scale).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import CoreSchema, ErrorDetails, core_schema

from bench.errors import HarnessError
from bench.measure.row import Row

__all__ = ["Checked", "Document", "ResultsDocument", "load_document"]

M = TypeVar("M", bound=BaseModel)

#: pydantic error types that say a value has the wrong JSON type -> what it should have been
_WANTS = {
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "dataclass_type": "an object",
    "dataclass_exact_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "none_required": "null",
}


def load_document(path: Path, model: type[M], *, what: str, missing: str = "") -> M:
    """`path` read and validated against `model`; HarnessError in one line if absent, unreadable or wrong.

    `what` names the document in errors ("results document"); `missing` says what to do when the
    file is absent ("record one with `syncbench gate --update`")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such {what}" + (f"; {missing}" if missing else "")) from None
    except IsADirectoryError:
        raise HarnessError(f"{path}: is a folder, not a {what} file") from None
    except UnicodeDecodeError:
        raise HarnessError(f"{path}: not a valid {what}: not UTF-8 text") from None
    except OSError as error:
        raise HarnessError(f"{path}: cannot read the {what}: {error.strerror or error}") from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise HarnessError(f"{path}: not a valid {what}: {_problem(error)}") from None


def _problem(error: ValidationError) -> str:
    """The first problem pydantic found, as `field: problem` (fixing it shows the next one)."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {_phrase(first)}" if where else _phrase(first)


def _phrase(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "missing":
        return "missing"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return "not a field syncbench knows"
    if kind == "json_invalid":
        problem, _, position = str(ctx.get("error", "")).rpartition(" at line ")
        return f"malformed JSON at line {position} ({problem})" if problem else "malformed JSON"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    if kind == "too_short":
        least, count = ctx["min_length"], ctx["actual_length"]
        return f"{'empty' if count == 0 else f'{count} items'}, want at least {least}"
    if kind in _WANTS:
        return f"want {_WANTS[kind]}, not {_shown(error['input'])}"
    if kind == "literal_error":
        return f"want {ctx['expected']}, not {_shown(error['input'])}"
    msg = error["msg"]
    return f"{msg[:1].lower()}{msg[1:]}, not {_shown(error['input'])}"


def _shown(value: Any) -> str:
    """A value as an error quotes it: JSON, short; containers by their kind."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_written(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    handler(value)
    found = _not_finite(value)
    if found is not None:
        where, number = found
        raise ValueError(f"{'.'.join(where)}: want a finite number, not {_shown(number)}")
    return value


def _not_finite(value: Any, where: tuple[str, ...] = ()) -> tuple[tuple[str, ...], float] | None:
    """Where the first NaN or infinity in `value` is (syncbench never writes one), and it; else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _not_finite(item, (*where, str(key)))
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Checked:
    """`Annotated[dict[str, Any], Checked(Model)]`: validated against `Model`, kept exactly as read
    (key order, fields the model does not name), so what is passed on or written back is unchanged."""

    model: type[Any]  # a pydantic model or a TypedDict

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(_as_written, handler.generate_schema(self.model))


class Document(BaseModel):
    """A document, or a part of one, that names all its fields: a misspelt or unknown field is an error,
    not silently ignored (and so is one in a dataclass it holds, such as `Options`)."""

    model_config = ConfigDict(extra="forbid")


class ResultsDocument(Document):
    """results.json: the syncbench version that wrote it, the hash of each scenario, the rows in plan order."""

    syncbench: str
    scenarios: dict[str, str]
    results: list[Annotated[dict[str, Any], Checked(Row)]]
