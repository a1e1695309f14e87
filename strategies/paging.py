"""Paging through a listing in the API's style, with an optional early stop and a per-page step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strategies.context import SyncContext
from strategies.effects import Call, SyncFailed, SyncGen

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
    """Read every page of `path`, returning all records.

    Styles (from the profile): `offset` (limit/offset), `keyset` (afterId = the last
    record's id) and `cursor` (follow the body's next link until there is none, even
    past an empty page). Offset and keyset paging end when the envelope's `count` is
    reached or a page comes back empty, never merely on a short page (servers return
    short pages mid-listing). A record repeated across pages is kept, counted and
    passed to `each` once; keyset paging ends when the anchor would not move.
    `stop_after(page)` ends paging early; `each(page)` runs a step on every page as
    it arrives (for example, one bulk write per page).

    A listing that would never end fails with SyncFailed naming it: when the next request
    (path plus offset, afterId or cursor) was already sent and no new record came since,
    as when a server's next link points back at itself, and after `Options.max_pages` pages.
    """
    profile, size = ctx.profile, ctx.page_size
    base = {**(params or {}), profile.limit_param: size}
    records: Page = []
    seen: set[Any] = set()
    request: tuple[str, dict[str, Any]] = (
        path,
        base if profile.pagination != "offset" else {**base, profile.offset_param: 0},
    )
    sent: set[tuple[str, str, int]] = set()
    while True:
        _check(ctx, path, request, len(records), sent)
        response = yield Call("GET", request[0], request[1], phase)
        body = profile.body(response)
        page: Page = body[profile.result_field]
        fresh = [r for r in page if r["id"] not in seen]  # a record repeated across pages counts once
        seen.update(r["id"] for r in fresh)
        records.extend(fresh)
        if each is not None and fresh:
            yield from each(fresh)
        if stop_after is not None and page and stop_after(page):
            return records
        if profile.pagination == "cursor":
            link = profile.next_link(body)
            if link is None:
                return records
            request = (link, {})
            continue
        count = body.get(profile.count_field)
        if not page:
            return records
        if profile.pagination == "keyset":
            anchor = page[-1]["id"]
            if anchor == request[1].get(profile.after_param) or (isinstance(count, int) and len(records) >= count):
                return records  # no progress possible (an inclusive afterId), or everything read
            # A page of repeats is no end: its anchor moved (it got news mid-listing); read on after it.
            request = (path, {**base, profile.after_param: anchor})
        else:
            offset = request[1][profile.offset_param] + len(page)
            if isinstance(count, int) and offset >= count:
                return records
            request = (path, {**base, profile.offset_param: offset})


def _check(
    ctx: SyncContext,
    path: str,
    request: tuple[str, dict[str, Any]],
    known: int,
    sent: set[tuple[str, str, int]],
) -> None:
    """Refuse the listing's next request when it repeats one already sent with nothing learned since
    (`known`: records read so far), or exceeds the page budget. A request sent again after new records
    arrived is progress: a keyset anchor that moved mid-listing brings the reader back to an afterId."""
    key = (request[0], repr(sorted((str(k), str(v)) for k, v in request[1].items())), known)
    if key in sent:
        profile = ctx.profile
        where = {k: v for k, v in request[1].items() if k in (profile.offset_param, profile.after_param)}
        what = ", ".join(f"{k}={v}" for k, v in where.items()) or "the next link"
        raise SyncFailed(f"GET {path}: paging would send the same request twice ({what}); stopped")
    if len(sent) >= ctx.options.max_pages:
        raise SyncFailed(f"GET {path}: paging stopped after {ctx.options.max_pages} pages (max_pages)")
    sent.add(key)
