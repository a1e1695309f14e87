"""A client's API dialect on the wire: its paths, parameters and field names, translated to and from
the core's own (the property-management API's), so `serve` can speak any API profile."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from strategies.profile import ApiProfile

__all__ = ["SIM_PROFILE", "Dialect"]

#: the dialect the core speaks
SIM_PROFILE = ApiProfile()
_SIM = SIM_PROFILE
_PARAMS = (("limit_param", "limit"), ("offset_param", "offset"), ("after_param", "afterId"), ("since_param", "since"))


class Dialect:
    """Translates between a client's API profile and the core's own paths, parameters and fields."""

    def __init__(self, profile: ApiProfile) -> None:
        self.profile = profile
        self.params = {getattr(profile, ours): sim for ours, sim in _PARAMS}
        self.back = {sim: theirs for theirs, sim in self.params.items()}

    def inbound(self, path: str, query: dict[str, str]) -> tuple[str, dict[str, str]] | None:
        route = self.profile.route(path)
        if route is None:
            return None
        endpoint, values = route
        return getattr(_SIM, endpoint).format(**values), {self.params.get(k, k): v for k, v in query.items()}

    def outbound(self, body: bytes) -> bytes:
        doc = json.loads(body)
        if not isinstance(doc, dict) or "result" not in doc:
            return body
        p = self.profile
        out: dict[str, Any] = {k: v for k, v in doc.items() if k not in ("result", "count", "paging")}
        out[p.result_field] = [{p.fields.get(k, k): v for k, v in r.items()} for r in doc["result"]]
        if "count" in doc:
            out[p.count_field] = doc["count"]
        if "paging" in doc:
            *parents, leaf = p.next_field.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = self._link(doc["paging"].get("next"))
        return json.dumps(out).encode()

    def _link(self, link: str | None) -> str | None:
        """The core's next link in the client's dialect."""
        if link is None:
            return None
        parts = urlsplit(link)
        route = _SIM.route(parts.path)
        path = parts.path if route is None else getattr(self.profile, route[0]).format(**route[1])
        query = {self.back.get(k, k): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        return f"{path}?{urlencode(query)}" if query else path
