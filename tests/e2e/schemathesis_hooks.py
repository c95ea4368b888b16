"""schemathesis hooks for tests/e2e/test_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

``error_is_status``: every 4xx and 5xx the gateway answers over REST is a JSON
``google.rpc.Status``: an object with an integer ``code`` (a gRPC code other than
OK) and a string ``message``; ``details``, when present, a list of objects with
``@type``. The transcoder's ``convert_grpc_status`` makes them from the services'
errors and Envoy's ``local_reply_config`` from its own answers.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


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
