"""Domain errors: what went wrong, in terms a caller can act on.

Pure Python on purpose (no grpc, no protobuf): domain and application code
raise these, and the gRPC layer (``crosstalk_common.grpc.errors``) turns them
into rich ``google.rpc.Status`` values following AIP-193. Every error carries

* ``message``: one brief English sentence a person can act on;
* ``reason``: a stable UPPER_SNAKE_CASE identifier such as ``CUSTOMER_NOT_FOUND``;
* ``metadata``: the dynamic values of the message, with lowerCamel keys.
"""

# The class names follow the canonical gRPC status codes, hence no "Error" suffix.

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

_REASON = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]")
_MAX_REASON_LENGTH = 63


@dataclass(frozen=True)
class FieldViolation:
    """One bad input field: ``field`` is a path such as ``customer.emails[2]``."""

    field: str
    description: str


@dataclass(frozen=True)
class PreconditionViolation:
    """One unmet precondition, e.g. ``type="CASE_STATE"``, ``subject="cases/42"``."""

    type: str
    subject: str
    description: str


def is_valid_reason(reason: str) -> bool:
    """AIP-193: ``[A-Z][A-Z0-9_]+[A-Z0-9]``, at most 63 characters."""
    return len(reason) <= _MAX_REASON_LENGTH and _REASON.fullmatch(reason) is not None


class DomainError(Exception):
    """Base of every error the services report to their callers."""

    default_reason: ClassVar[str] = "DOMAIN_ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        if not is_valid_reason(self.reason):
            raise ValueError(f"error reason must be UPPER_SNAKE_CASE, got {self.reason!r}")
        self.metadata: dict[str, str] = dict(metadata or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


class InvalidArgument(DomainError):
    """The request itself is wrong; resending it unchanged will fail again."""

    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        violations: Sequence[FieldViolation] | FieldViolation,
        message: str | None = None,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        if not self.violations:
            raise ValueError("InvalidArgument needs at least one field violation")
        super().__init__(
            message or _summarize_fields(self.violations), reason=reason, metadata=metadata
        )

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        """A single bad field, e.g. ``InvalidArgument.field("page_size", "must be >= 0")``."""
        return cls(FieldViolation(field, description))


def _summarize_fields(violations: Sequence[FieldViolation]) -> str:
    if len(violations) == 1:
        only = violations[0]
        return f"invalid {only.field}: {only.description}"
    names = list(dict.fromkeys(v.field for v in violations))
    return f"invalid request: check {', '.join(names)}"


def _reason_prefix(resource_type: str) -> str:
    """``"crosstalk.io/TagGroup"`` -> ``"TAG_GROUP"``."""
    short = re.split(r"[/.]", resource_type)[-1]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", short)
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", snake).strip("_").upper()
    return cleaned if cleaned and cleaned[0].isalpha() else "RESOURCE"


class NotFound(DomainError):
    default_reason = "RESOURCE_NOT_FOUND"

    def __init__(
        self,
        resource_type: str,
        resource_name: str,
        *,
        message: str | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.resource_type = resource_type
        self.resource_name = resource_name
        super().__init__(
            message or f"{resource_type} {resource_name!r} does not exist",
            reason=reason or f"{_reason_prefix(resource_type)}_NOT_FOUND",
            metadata={"resourceType": resource_type, "resourceName": resource_name}
            | dict(metadata or {}),
        )


class AlreadyExists(DomainError):
    default_reason = "RESOURCE_ALREADY_EXISTS"

    def __init__(
        self,
        resource_type: str,
        resource_name: str,
        message: str | None = None,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.resource_type = resource_type
        self.resource_name = resource_name
        super().__init__(
            message or f"{resource_type} {resource_name!r} already exists",
            reason=reason or f"{_reason_prefix(resource_type)}_ALREADY_EXISTS",
            metadata={"resourceType": resource_type, "resourceName": resource_name}
            | dict(metadata or {}),
        )


class FailedPrecondition(DomainError):
    """The system is not in a state where the request can succeed."""

    default_reason = "FAILED_PRECONDITION"

    def __init__(
        self,
        violations: Sequence[PreconditionViolation],
        message: str | None = None,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.violations: tuple[PreconditionViolation, ...] = tuple(violations)
        summary = "; ".join(v.description for v in self.violations) or "precondition failed"
        super().__init__(message or summary, reason=reason, metadata=metadata)


class Aborted(DomainError):
    """A concurrency conflict (etag mismatch, lost race); re-read and retry."""

    default_reason = "ABORTED"

    @classmethod
    def etag_mismatch(cls, resource_name: str) -> Aborted:
        return cls(
            f"{resource_name} was changed by someone else; read it again and retry",
            reason="ETAG_MISMATCH",
            metadata={"resourceName": resource_name},
        )


class PermissionDenied(DomainError):
    default_reason = "PERMISSION_DENIED"

    def __init__(
        self,
        permission: str,
        message: str | None = None,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.permission = permission
        super().__init__(
            message or f"the caller lacks the permission {permission!r}",
            reason=reason,
            metadata={"permission": permission} | dict(metadata or {}),
        )


class Unauthenticated(DomainError):
    default_reason = "UNAUTHENTICATED"


class _RetryLater(DomainError):
    """An error that says when trying again makes sense (``retry_after``, seconds).

    The gRPC layer sends it as ``google.rpc.RetryInfo`` and as a ``retry-after``
    header (whole seconds, rounded up), which the gateway passes to REST clients.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {retry_after}")
        self.retry_after = retry_after


class Unavailable(_RetryLater):
    """A peer (service, database, bus) cannot be reached right now; retry later."""

    default_reason = "UNAVAILABLE"


class ResourceExhausted(_RetryLater):
    """A quota or rate limit is used up, or the service is at its capacity."""

    default_reason = "RESOURCE_EXHAUSTED"
