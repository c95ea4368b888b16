"""schemathesis hooks for tests/e2e/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

``error_is_status``: every 4xx and 5xx the gateway answers over REST is a JSON
``google.rpc.Status``: an object with an integer ``code`` (a gRPC code other than
OK) and a string ``message``; ``details``, when present, a list of objects with
``@type``. The transcoder's ``convert_grpc_status`` makes them from the services'
errors and Envoy's ``local_reply_config`` from its own answers.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import strategies as st


@schemathesis.check
def error_is_status(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if not str(content_type).startswith("application/json"):
        raise AssertionError(f"{where}: error content-type {content_type!r}, not JSON")
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        text = response.content[:200]
        raise AssertionError(f"{where}: error body is not JSON: {text!r}") from exc
    if not isinstance(body, dict):
        raise AssertionError(f"{where}: error body is not an object: {body!r}")
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool) or not 1 <= code <= 16:
        raise AssertionError(f"{where}: error body has no gRPC code: {body!r}")
    if not isinstance(body.get("message"), str):
        raise AssertionError(f"{where}: error body has no message: {body!r}")
    details = body.get("details", [])
    if not isinstance(details, list) or not all(
        isinstance(d, dict) and isinstance(d.get("@type"), str) for d in details
    ):
        raise AssertionError(f"{where}: error details are not Any messages: {body!r}")
    return None


# Valid create bodies for the stateful phase (SCHEMATHESIS_SEED_BODIES: a JSON file of
# operation label -> bodies, written by the test). Random bodies rarely pass the
# services' validation, so the lifecycles behind the links (create -> get -> update ->
# delete -> get) would hardly start; half of the creates send a seed instead, its
# display name made unique (display names are unique per tenant for most resources).
_SEED_FILE = os.environ.get("SCHEMATHESIS_SEED_BODIES")
_SEED_BODIES: dict[str, list[dict[str, Any]]] = (
    json.loads(Path(_SEED_FILE).read_text()) if _SEED_FILE else {}
)


def _unique(seed: dict[str, Any], token: uuid.UUID) -> dict[str, Any]:
    body = copy.deepcopy(seed)
    if "displayName" in body:
        body["displayName"] = f"{body['displayName']} {token.hex[:8]}"
    return body


@schemathesis.hook
def flatmap_body(ctx: Any, body: Any) -> Any:
    seeds = _SEED_BODIES.get(ctx.operation.label) if ctx.operation is not None else None
    if not seeds:
        return st.just(body)
    seeded = st.builds(_unique, st.sampled_from(seeds), st.uuids())
    return st.one_of(st.just(body), seeded)
