from __future__ import annotations

import subprocess
import sys

import pytest

from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    Unauthenticated,
)


def test_invalid_argument_summarizes_the_fields() -> None:
    one = InvalidArgument.field("display_name", "must not be empty")
    assert one.violations == (FieldViolation("display_name", "must not be empty"),)
    assert one.message == "invalid display_name: must not be empty"
    assert one.reason == "INVALID_ARGUMENT"
    many = InvalidArgument(
        [
            FieldViolation("customer.emails[0]", "not an email"),
            FieldViolation("customer.country", "not a country"),
            FieldViolation("customer.emails[0]", "listed twice"),
        ]
    )
    assert many.message == "invalid request: check customer.emails[0], customer.country"
    assert InvalidArgument(FieldViolation("a", "b"), "custom").message == "custom"
    with pytest.raises(ValueError, match="at least one"):
        InvalidArgument([])


def test_resource_errors_derive_reason_and_metadata() -> None:
    missing = NotFound("crosstalk.io/TagGroup", "tagGroups/7")
    assert missing.reason == "TAG_GROUP_NOT_FOUND"
    assert missing.metadata == {
        "resourceType": "crosstalk.io/TagGroup",
        "resourceName": "tagGroups/7",
    }
    assert "tagGroups/7" in missing.message
    assert NotFound("Customer", "customers/1").reason == "CUSTOMER_NOT_FOUND"
    exists = AlreadyExists("Customer", "customers/1")
    assert exists.reason == "CUSTOMER_ALREADY_EXISTS"
    assert AlreadyExists("Customer", "customers/1", "taken").message == "taken"


def test_other_errors() -> None:
    failed = FailedPrecondition(
        [PreconditionViolation("CASE_STATE", "cases/1", "the case is closed")]
    )
    assert failed.message == "the case is closed"
    denied = PermissionDenied("customers.update")
    assert denied.metadata == {"permission": "customers.update"}
    assert Aborted.etag_mismatch("customers/1").reason == "ETAG_MISMATCH"
    assert Unauthenticated("who are you").message == "who are you"
    assert str(Unauthenticated("who are you")) == "who are you"


def test_reasons_must_be_upper_snake_case() -> None:
    with pytest.raises(ValueError, match="UPPER_SNAKE_CASE"):
        DomainError("x", reason="not-valid")
    assert DomainError("x", reason="FINE_REASON_2").reason == "FINE_REASON_2"


def test_errors_module_does_not_import_grpc_or_protobuf() -> None:
    code = (
        "import sys, crosstalk_common.errors; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('grpc', 'google')]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
