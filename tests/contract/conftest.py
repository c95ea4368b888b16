"""Shared fixtures of the contract tests: the API descriptor set, indexed.

The tests read build/api_descriptor.binpb, the FileDescriptorSet that
`make gen` (tools/gen_protos.py) writes from proto/, and check the API
conventions of docs/adr/0001-aip-style-apis.md on every file whose package
starts with "crosstalk.".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Importing these registers the option extensions before the descriptor set is
# parsed, so that `options.Extensions[...]` can read them.
from google.api import annotations_pb2, field_behavior_pb2, resource_pb2  # noqa: F401
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "build" / "api_descriptor.binpb"
PROTO_ROOT = ROOT / "proto"
OUR_PREFIX = "crosstalk."


def pytest_configure(config: pytest.Config) -> None:
    # `make test-postgres` deselects "nodb" tests; these never touch a database.
    config.addinivalue_line("markers", "nodb: the test uses no database")


@dataclass(frozen=True)
class Method:
    service: str  # full name, e.g. "crosstalk.rules.v1.RulesService"
    proto: descriptor_pb2.MethodDescriptorProto
    file: descriptor_pb2.FileDescriptorProto
    location_path: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.proto.name

    @property
    def full_name(self) -> str:
        return f"{self.service}.{self.proto.name}"

    @property
    def input_type(self) -> str:
        return self.proto.input_type.lstrip(".")

    @property
    def output_type(self) -> str:
        return self.proto.output_type.lstrip(".")


@dataclass(frozen=True)
class Api:
    """Our files of the descriptor set, with lookup tables."""

    files: list[descriptor_pb2.FileDescriptorProto]
    # Every message of every file in the set (imports included), by full name
    # without the leading dot, nested messages included.
    messages: dict[str, descriptor_pb2.DescriptorProto] = field(default_factory=dict)
    # Package of each message, by full name.
    message_packages: dict[str, str] = field(default_factory=dict)
    # Our enums (nested ones included), by full name.
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = field(default_factory=dict)
    methods: list[Method] = field(default_factory=list)
    services: list[tuple[str, descriptor_pb2.FileDescriptorProto, tuple[int, ...]]] = field(
        default_factory=list
    )

    def message(self, full_name: str) -> descriptor_pb2.DescriptorProto:
        return self.messages[full_name.lstrip(".")]

    def our_messages(self) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
        for name, msg in self.messages.items():
            if self.message_packages[name].startswith(OUR_PREFIX):
                yield name, msg


def _index_messages(
    api: Api, package: str, prefix: str, messages: list[descriptor_pb2.DescriptorProto], ours: bool
) -> None:
    for msg in messages:
        full = f"{prefix}.{msg.name}"
        api.messages[full] = msg
        api.message_packages[full] = package
        if ours:
            for enum in msg.enum_type:
                api.enums[f"{full}.{enum.name}"] = enum
        _index_messages(api, package, full, list(msg.nested_type), ours)


def load_api(path: Path = DESCRIPTOR_SET) -> Api:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run make gen", pytrace=False)
    try:
        # Registers the (crosstalk.events.v1.event) option; extensions are
        # only recognised if known when the set is parsed.
        import crosstalk.events.v1.envelope_pb2  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"generated code is missing ({exc}): run make gen", pytrace=False)
    fds = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    ours = [f for f in fds.file if f.package.startswith(OUR_PREFIX)]
    on_disk = {str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "crosstalk").rglob("*.proto")}
    in_set = {f.name for f in ours}
    if on_disk != in_set:
        pytest.fail(
            f"{path.relative_to(ROOT)} is stale (not in it: {sorted(on_disk - in_set)}, "
            f"no longer on disk: {sorted(in_set - on_disk)}): run make gen",
            pytrace=False,
        )
    api = Api(files=ours)
    for f in fds.file:
        is_ours = f.package.startswith(OUR_PREFIX)
        _index_messages(api, f.package, f.package, list(f.message_type), is_ours)
        if is_ours:
            for enum in f.enum_type:
                api.enums[f"{f.package}.{enum.name}"] = enum
    for f in ours:
        for s_index, service in enumerate(f.service):
            service_name = f"{f.package}.{service.name}"
            api.services.append((service_name, f, (6, s_index)))
            for m_index, method in enumerate(service.method):
                api.methods.append(Method(service_name, method, f, (6, s_index, 2, m_index)))
    return api


@pytest.fixture(scope="session")
def api() -> Api:
    return load_api()
