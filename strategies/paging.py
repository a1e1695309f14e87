"""Paging through a listing, with an optional early stop and a per-page step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strategies.context import SyncContext
from strategies.effects import Call, SyncGen

__all__ = ["paginate"]

Page = list[dict[str, Any]]


def paginate(
    ctx: SyncContext,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    phase: str = "listing",
    stop_after: Callable[[Page], bool] | None = None,
    each: Callable[[Page], SyncGen] | None = None,
) -> SyncGen:
    """Read every page of `path` (offset/limit), returning all records.

    Paging ends when the envelope's `count` is reached or a page comes back empty,
    never merely on a short page (servers return short pages mid-listing).
    `stop_after(page)` ends it early; `each(page)` runs a step on every page as it
    arrives (for example, one bulk write per page).
    """
    profile, size = ctx.profile, ctx.page_size
    records: Page = []
    offset = 0
    while True:
        response = yield Call(
            "GET", path, {**(params or {}), profile.limit_param: size, profile.offset_param: offset}, phase
        )
        body = profile.body(response)
        page: Page = body[profile.result_field]
        records.extend(page)
        if each is not None and page:
            yield from each(page)
        offset += len(page)
        count = body.get(profile.count_field)
        if not page or (stop_after is not None and stop_after(page)):
            return records
        if isinstance(count, int) and offset >= count:
            return records
