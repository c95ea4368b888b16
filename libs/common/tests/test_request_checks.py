"""Requests refused before a servicer sees them: undecodable bytes, control characters in text.

The walker and the wire-format scanner are tried on ``Probe``, a request type
with every shape of field, built at run time; the interceptor through a real
grpc.aio server on 127.0.0.1:0, fed raw bytes with identity serializers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, struct_pb2
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from crosstalk_common.api.request_text import control_character_violations
from crosstalk_common.api.undecodable import CORRUPT_BODY, NOT_UTF8, undecodable_field
from crosstalk_common.errors import FieldViolation
from crosstalk_common.grpc.errors import ErrorMappingInterceptor
from crosstalk_common.grpc.request_validation import RequestValidationInterceptor
from crosstalk_common.text_rules import control_character_problem, normalized_identity

_F = descriptor_pb2.FieldDescriptorProto


def _probe_file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="crosstalk_test/probe.proto",
        package="crosstalk_test",
        syntax="proto3",
        dependency=["google/protobuf/struct.proto", "google/protobuf/any.proto"],
    )
    child = proto.message_type.add(name="Child")
    child.field.add(name="note", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    child.field.add(name="blob", number=2, type=_F.TYPE_BYTES, label=_F.LABEL_OPTIONAL)
    probe = proto.message_type.add(name="Probe")
    entry = probe.nested_type.add(name="LabelsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    fields: list[dict[str, Any]] = [
        {"name": "name", "type": _F.TYPE_STRING},
        {"name": "tags", "type": _F.TYPE_STRING, "label": _F.LABEL_REPEATED},
        {
            "name": "labels",
            "type": _F.TYPE_MESSAGE,
            "label": _F.LABEL_REPEATED,
            "type_name": ".crosstalk_test.Probe.LabelsEntry",
        },
        {"name": "content", "type": _F.TYPE_BYTES},
        {
            "name": "children",
            "type": _F.TYPE_MESSAGE,
            "label": _F.LABEL_REPEATED,
            "type_name": ".crosstalk_test.Child",
        },
        {"name": "attributes", "type": _F.TYPE_MESSAGE, "type_name": ".google.protobuf.Struct"},
        {"name": "extra", "type": _F.TYPE_MESSAGE, "type_name": ".google.protobuf.Any"},
        {"name": "count", "type": _F.TYPE_INT32},
    ]
    for number, spec in enumerate(fields, start=1):
        probe.field.add(number=number, label=spec.pop("label", _F.LABEL_OPTIONAL), **spec)
    return proto


_pool = descriptor_pool.DescriptorPool()
for _file in (struct_pb2.DESCRIPTOR, any_pb2.DESCRIPTOR):
    _pool.AddSerializedFile(_file.serialized_pb)
_pool.AddSerializedFile(_probe_file().SerializeToString())
Probe: Any = GetMessageClass(_pool.FindMessageTypeByName("crosstalk_test.Probe"))
Child: Any = GetMessageClass(_pool.FindMessageTypeByName("crosstalk_test.Child"))


def _fields(violations: list[FieldViolation]) -> list[str]:
    return [v.field for v in violations]


# --- the text rules -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["plain", "two\nlines\r\nwith\ttabs", "Grüße 你好 🙂", ""])
def test_ordinary_text_passes(text: str) -> None:
    assert control_character_problem(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("x@b.co\x00", "U+0000"),
        ("ring\x07", "U+0007"),
        ("\x1b[31mred", "U+001B"),
        ("form\x0cfeed", "U+000C"),
        ("delete\x7f", "U+007F"),
        ("next line\x85", "U+0085"),
        ("\x9f", "U+009F"),
    ],
)
def test_control_characters_are_named(text: str, code: str) -> None:
    problem = control_character_problem(text)
    assert problem is not None
    assert code in problem


def test_identities_are_nfc_and_trimmed() -> None:
    assert normalized_identity("  jose\u0301@b.co \t") == "jos\u00e9@b.co"
    assert normalized_identity("X@b.co ") == "X@b.co"  # case is the channel's business


# --- the walker ---------------------------------------------------------------------------


def test_a_clean_request_has_no_violations() -> None:
    probe = Probe(
        name="Ana\u00efs",
        tags=["vip", "line\nbreak"],
        labels={"region": "EU\r\n"},
        content=b"\x00\x01\x1b binary is data",
        children=[Child(note="tab\there", blob=b"\x00")],
        count=3,
    )
    probe.attributes.update({"size": "L", "sizes": ["S", "M"], "n": 4})
    probe.extra.type_url = "type.googleapis.com/crosstalk_test.Child"
    probe.extra.value = b"\x00\x07"
    assert control_character_violations(probe) == []


def test_every_kind_of_text_field_is_walked() -> None:
    probe = Probe(
        name="a\x00",
        tags=["ok", "b\x07"],
        labels={"k": "v\x1b", "odd key": "\x7f", "key\x00": "fine"},
        children=[Child(note="fine"), Child(note="\x85")],
    )
    probe.attributes.update({"x": "\x00", "nested": {"list": ["ok", "\x01"]}})
    assert _fields(control_character_violations(probe)) == [
        "name",
        "tags[1]",
        "labels.k",
        "labels",  # the key itself
        "labels.`odd key`",
        "children[1].note",
        "attributes.nested.list[1]",
        "attributes.x",
    ]


def test_a_violation_says_which_character_and_where() -> None:
    [violation] = control_character_violations(Probe(name="abc\x1bdef"))
    assert violation.field == "name"
    assert "U+001B at position 3" in violation.description


# --- naming the undecodable field ---------------------------------------------------------


def test_a_string_that_is_not_utf8_is_named() -> None:
    raw = Probe(tags=["ok", "ok"]).SerializeToString() + b"\x12\x02\xff\xfe"
    assert undecodable_field(Probe.DESCRIPTOR, raw) == FieldViolation("tags[2]", NOT_UTF8)
    nested = Child(note="x").SerializeToString().replace(b"x", b"\xff")
    raw = b"\x2a" + bytes([len(nested)]) + nested
    assert undecodable_field(Probe.DESCRIPTOR, raw) == FieldViolation("children[0].note", NOT_UTF8)


def test_garbage_names_the_body() -> None:
    assert undecodable_field(Probe.DESCRIPTOR, b"\xff\xff\xff") == FieldViolation("", CORRUPT_BODY)


def test_a_truncated_field_is_named() -> None:
    raw = b"\x0a\x10abc"  # name claims 16 bytes, 3 follow
    found = undecodable_field(Probe.DESCRIPTOR, raw)
    assert found.field == "name"


# --- through a grpc.aio server ------------------------------------------------------------

SERVICE = "crosstalk_test.ProbeService"
DOMAIN = "probe.crosstalk.io"
SEEN: list[Any] = []


def _handlers() -> grpc.GenericRpcHandler:
    async def echo(request: Any, context: Any) -> Any:
        SEEN.append(request)
        return request

    handler = grpc.unary_unary_rpc_method_handler(
        echo, request_deserializer=Probe.FromString, response_serializer=Probe.SerializeToString
    )
    return grpc.method_handlers_generic_handler(SERVICE, {"Echo": handler})


@pytest.fixture
async def raw_echo() -> AsyncIterator[Any]:
    server = grpc.aio.server(
        interceptors=[ErrorMappingInterceptor(DOMAIN), RequestValidationInterceptor()]
    )
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    SEEN.clear()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            # Identity serializers: the bytes go out exactly as the test wrote them.
            yield channel.unary_unary(f"/{SERVICE}/Echo")
    finally:
        await server.stop(None)


async def _refused(call: Any, raw: bytes) -> tuple[grpc.aio.AioRpcError, list[tuple[str, str]]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(raw, timeout=5)
    err = caught.value
    status = rpc_status.from_call(err)
    assert status is not None, f"no rich status: {err.code()} {err.details()}"
    violations: list[tuple[str, str]] = []
    for packed in status.details:
        if packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            packed.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
    return err, violations


async def test_bad_utf8_is_invalid_argument_with_one_warning(
    raw_echo: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        err, violations = await _refused(raw_echo, b"\x0a\x02\xff\xfe")
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations == [("name", NOT_UTF8)]
    assert SEEN == []
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelname, r.exc_info) for r in problems] == [("WARNING", None)]
    assert "Echo" in problems[0].getMessage()


async def test_a_corrupt_body_is_invalid_argument(
    raw_echo: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        err, violations = await _refused(raw_echo, b"\xff\xff\xff\xff")
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations == [("", CORRUPT_BODY)]
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == ["WARNING"]
    assert not any(r.exc_info for r in caplog.records)


async def test_control_characters_are_invalid_argument_naming_each_field(raw_echo: Any) -> None:
    probe = Probe(name="x@b.co\x00", children=[Child(note="\x1b")])
    err, violations = await _refused(raw_echo, probe.SerializeToString())
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [field for field, _ in violations] == ["name", "children[0].note"]
    assert SEEN == []


async def test_good_requests_reach_the_servicer(raw_echo: Any) -> None:
    probe = Probe(name="Zoë\r\n", content=b"\x00\x1b", children=[Child(blob=b"\x07")])
    answer = await raw_echo(probe.SerializeToString(), timeout=5)
    assert Probe.FromString(answer) == probe
    assert [probe] == SEEN
