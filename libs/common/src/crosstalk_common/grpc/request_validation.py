"""Requests a servicer never sees: bytes that do not decode, text with control characters.

grpc decodes a request with the handler's ``request_deserializer`` before any
interceptor or servicer runs, and reports a failure there as UNKNOWN with a
logged traceback. ``RequestValidationInterceptor`` swaps in a deserializer
that keeps undecodable bytes instead of raising; the RPC behaviour then
refuses them with INVALID_ARGUMENT naming the field, logged as one WARNING
line. A request that decodes has every text field checked against
``crosstalk_common.text_rules`` (see ``api.request_text``) before it reaches
the servicer.

Placed inside ``ErrorMappingInterceptor``, which turns the ``InvalidArgument``
raised here into a status with ``google.rpc.BadRequest`` details.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message

from crosstalk_common.api.request_text import control_character_violations
from crosstalk_common.api.undecodable import CORRUPT_BODY, undecodable_field
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.unary_interceptor import Behavior, Deserializer, UnaryInterceptor, run

log = logging.getLogger(__name__)

MALFORMED_REASON = "MALFORMED_REQUEST"
CONTROL_CHARACTER_REASON = "CONTROL_CHARACTER_IN_TEXT"


@dataclass(frozen=True)
class _Undecodable:
    """Stands in for a request whose bytes did not decode."""

    descriptor: Descriptor | None
    data: bytes

    def violation(self) -> FieldViolation:
        if self.descriptor is None:
            return FieldViolation("", CORRUPT_BODY)
        return undecodable_field(self.descriptor, self.data)


def _keeping_undecodable(deserialize: Deserializer) -> Deserializer:
    # Generated handlers pass ``SomeRequest.FromString``, bound to the message class.
    descriptor = getattr(getattr(deserialize, "__self__", None), "DESCRIPTOR", None)
    known = descriptor if isinstance(descriptor, Descriptor) else None

    def deserialize_or_keep(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError:
            return _Undecodable(known, data)

    return deserialize_or_keep


class RequestValidationInterceptor(UnaryInterceptor):
    def deserializer(self, deserializer: Deserializer | None) -> Deserializer | None:
        return None if deserializer is None else _keeping_undecodable(deserializer)

    def wrap(self, behavior: Behavior, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        async def validated(request: Any, context: Any) -> Any:
            if isinstance(request, _Undecodable):
                raise _refusal(request.violation(), method)
            if isinstance(request, Message):
                problems = control_character_violations(request)
                if problems:
                    raise InvalidArgument(problems, reason=CONTROL_CHARACTER_REASON)
            return await run(behavior, request, context)

        return validated


def _refusal(violation: FieldViolation, method: str) -> InvalidArgument:
    what = (
        f"{violation.field} {violation.description}" if violation.field else violation.description
    )
    log.warning("%s: refused a request that does not decode: %s", method, what)
    return InvalidArgument(violation, what, reason=MALFORMED_REASON)
