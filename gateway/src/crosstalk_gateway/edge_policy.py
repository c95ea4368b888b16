"""What Envoy does at the edge before a service sees a call: per-client rate limits
and the JSON google.rpc.Status body of every answer Envoy gives itself.

Plain dicts for the generated config; generate.py places them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from .body_fields import REPLY_METADATA_NAMESPACE
from .rate_limits import RateLimitSettings, TokenBucket

_T = "type.googleapis.com/"
RATE_LIMIT_STAT_PREFIX = "http_local_rate_limiter"
# Descriptor keys: "remote_address" is what Envoy's remote_address action emits (the
# trusted client address); "method" names a per-client method bucket.
CLIENT_KEY = "remote_address"
METHOD_KEY = "method"

# HTTP status of a local reply -> google.rpc.Code, as the services map them.
# 413 and 431 are the client's mistake (INVALID_ARGUMENT), never "try again".
GRPC_CODE_OF_STATUS: Mapping[int, int] = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    405: 12,  # UNIMPLEMENTED
    408: 4,  # DEADLINE_EXCEEDED
    413: 3,
    414: 3,
    415: 3,
    429: 8,  # RESOURCE_EXHAUSTED
    431: 3,
    500: 13,  # INTERNAL
    501: 12,
    502: 14,  # UNAVAILABLE
    503: 14,
    504: 4,
}
UNKNOWN_CODE = 2


def method_path_regex(grpc_path: str, rest_regexes: Sequence[str]) -> str:
    """One RE2 regex for a method's ``:path`` in every form, with any query string."""
    forms = [_literal(grpc_path), *rest_regexes]
    return "^(?:" + "|".join(forms) + r")(?:\?.*)?$"


def local_rate_limit(
    rate_limit: RateLimitSettings, method_paths: Mapping[str, str]
) -> dict[str, Any]:
    """The local_ratelimit filter: the process bucket plus every client's own buckets.

    ``method_paths`` maps each per-client method to its ``:path`` regex. Every request
    takes a token from the process bucket and from its client's bucket; a call of a
    listed method also from its client's bucket for that method. Clients are keyed
    by the trusted client address (``remote_address``), one bucket each, created on
    first sight (Envoy keeps at most ``max_clients`` of them, least recently seen go).
    """
    descriptors: list[dict[str, Any]] = [
        {
            "entries": [{"key": CLIENT_KEY, "value": ""}],
            "token_bucket": _bucket(rate_limit.per_client),
        }
    ]
    actions: list[dict[str, Any]] = [{"actions": [{"remote_address": {}}]}]
    for method, bucket in sorted(rate_limit.per_client_methods.items()):
        descriptors.append(
            {
                "entries": [
                    {"key": METHOD_KEY, "value": method},
                    {"key": CLIENT_KEY, "value": ""},
                ],
                "token_bucket": _bucket(bucket),
            }
        )
        actions.append(
            {
                "actions": [
                    {
                        "header_value_match": {
                            "descriptor_key": METHOD_KEY,
                            "descriptor_value": method,
                            "headers": [
                                {
                                    "name": ":path",
                                    "string_match": {"safe_regex": {"regex": method_paths[method]}},
                                }
                            ],
                        }
                    },
                    {"remote_address": {}},
                ]
            }
        )
    return {
        "@type": _T + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        "stat_prefix": RATE_LIMIT_STAT_PREFIX,
        "token_bucket": _bucket(rate_limit.total),
        "descriptors": descriptors,
        "rate_limits": actions,
        "max_dynamic_descriptors": rate_limit.max_clients,
        "always_consume_default_token_bucket": True,
        "filter_enabled": _percent("local_rate_limit_enabled", 100),
        "filter_enforced": _percent("local_rate_limit_enforced", 100),
        "rate_limited_as_resource_exhausted": True,
        "response_headers_to_add": [
            {
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                "header": {"key": "x-local-rate-limit", "value": "true"},
            }
        ],
    }


def local_reply_config(
    rate_limit: RateLimitSettings, method_paths: Mapping[str, str]
) -> dict[str, Any]:
    """Every answer Envoy makes itself becomes a JSON google.rpc.Status.

    Transcoder errors (bad JSON, unknown query parameter), token failures, rate limits,
    oversized requests, no healthy upstream: ``{"code": N, "message": "..."}`` with
    ``content-type: application/json``. gRPC and gRPC-Web callers keep Envoy's own
    gRPC answer (grpc-status and grpc-message): the first mapper matches them and
    changes nothing (the first matching mapper is the only one applied).
    A 429 carries ``retry-after``: the refill interval of the bucket that a call of
    that method can run out of (the longest, when it has several).
    """
    mappers: list[dict[str, Any]] = [{"filter": _grpc()}, _unknown_body_field()]
    slowest_default = max((rate_limit.total, rate_limit.per_client), key=lambda b: b.fill_interval)
    for method, bucket in sorted(rate_limit.per_client_methods.items()):
        wait = max((bucket, slowest_default), key=lambda b: b.fill_interval)
        mappers.append(
            _mapper(
                429,
                extra_filters=[
                    {
                        "header_filter": {
                            "header": {
                                "name": ":path",
                                "string_match": {"safe_regex": {"regex": method_paths[method]}},
                            }
                        }
                    }
                ],
                retry_after=wait,
            )
        )
    for status in sorted(GRPC_CODE_OF_STATUS):
        mappers.append(_mapper(status, retry_after=slowest_default if status == 429 else None))
    mappers.append(
        {
            "filter": _local_reply(),
            "body_format_override": _status_body(UNKNOWN_CODE),
        }
    )
    return {"mappers": mappers}


def _mapper(
    status: int,
    *,
    extra_filters: Sequence[dict[str, Any]] = (),
    retry_after: TokenBucket | None = None,
) -> dict[str, Any]:
    filters = [
        {
            "status_code_filter": {
                "comparison": {
                    "op": "EQ",
                    "value": {"default_value": status, "runtime_key": f"local_reply_{status}"},
                }
            }
        },
        *extra_filters,
    ]
    mapper: dict[str, Any] = {
        "filter": {"and_filter": {"filters": filters}} if len(filters) > 1 else filters[0],
        "body_format_override": _status_body(GRPC_CODE_OF_STATUS[status]),
    }
    if retry_after is not None:
        mapper["headers_to_add"] = [
            {
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                "header": {"key": "retry-after", "value": str(retry_after.retry_after_seconds)},
            }
        ]
    return mapper


def _unknown_body_field() -> dict[str, Any]:
    """The body checker's refusal (body_fields): a BadRequest naming the field (an
    unknown one, or a name differing from the path's) and saying what is wrong.

    The checker only sets the field when it is made of letters, digits, "_" and
    ".", and the description from fixed texts, so the text below stays valid JSON
    without escaping; its message too.
    """
    violation = (
        '{"field":"%DYNAMIC_METADATA(' + REPLY_METADATA_NAMESPACE + ':field)%",'
        '"description":"%DYNAMIC_METADATA(' + REPLY_METADATA_NAMESPACE + ':description)%"}'
    )
    body = (
        '{"code":3,"message":"%LOCAL_REPLY_BODY%","details":[{"@type":'
        '"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[' + violation + "]}]}"
    )
    return {
        "filter": {
            "metadata_filter": {
                "matcher": {
                    "filter": REPLY_METADATA_NAMESPACE,
                    "path": [{"key": "field"}],
                    "value": {"present_match": True},
                },
                # Unset would match every reply without the key.
                "match_if_key_not_found": False,
            }
        },
        "body_format_override": {
            "text_format_source": {"inline_string": body},
            "content_type": "application/json",
        },
    }


def _status_body(code: int) -> dict[str, Any]:
    return {
        "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": []},
        "content_type": "application/json",
    }


def _grpc() -> dict[str, Any]:
    """gRPC and gRPC-Web requests: a gRPC content-type the transcoder did not set
    (it sets x-envoy-original-method on every REST request it transcodes)."""
    return {
        "and_filter": {
            "filters": [
                {
                    "header_filter": {
                        "header": {
                            "name": "content-type",
                            "string_match": {"prefix": "application/grpc"},
                        }
                    }
                },
                {
                    "header_filter": {
                        "header": {"name": "x-envoy-original-method", "present_match": False}
                    }
                },
            ]
        }
    }


def _local_reply() -> dict[str, Any]:
    """Any status: the last mapper's catch-all (mappers only see local replies)."""
    return {
        "status_code_filter": {
            "comparison": {
                "op": "GE",
                "value": {"default_value": 400, "runtime_key": "local_reply_any_error"},
            }
        }
    }


def _bucket(bucket: TokenBucket) -> dict[str, Any]:
    return {
        "max_tokens": bucket.max_tokens,
        "tokens_per_fill": bucket.tokens_per_fill,
        "fill_interval": _duration(bucket.fill_interval),
    }


def _percent(runtime_key: str, numerator: int) -> dict[str, Any]:
    return {
        "runtime_key": runtime_key,
        "default_value": {"numerator": numerator, "denominator": "HUNDRED"},
    }


def _duration(value: timedelta) -> str:
    millis = value // timedelta(milliseconds=1)
    seconds, frac = divmod(millis, 1000)
    return f"{seconds}s" if not frac else f"{seconds}.{frac:03d}s"


_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")


def _literal(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)
