"""What the API offers, read from the descriptor set built from proto/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2, http_pb2  # type: ignore[import-untyped, unused-ignore]
from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from .settings import GatewayConfigError

API_PACKAGE_PREFIX = "crosstalk."


@dataclass(frozen=True)
class HttpBinding:
    verb: str  # GET, POST, PUT, PATCH, DELETE or a custom verb
    path: str
    body: str


@dataclass(frozen=True)
class MethodInfo:
    service: str  # full service name, e.g. crosstalk.reporting.v1.ReportingService
    name: str  # e.g. GetDashboard
    client_streaming: bool
    server_streaming: bool
    http: tuple[HttpBinding, ...]  # the primary google.api.http rule first, then additional ones

    @property
    def key(self) -> str:
        """``<package>.<Service>/<Method>``: how gateway.yaml names a method."""
        return f"{self.service}/{self.name}"

    @property
    def grpc_path(self) -> str:
        """The HTTP/2 path gRPC (and the transcoder, after translating) uses."""
        return f"/{self.key}"

    @property
    def http_verb(self) -> str | None:
        return self.http[0].verb if self.http else None


@dataclass(frozen=True)
class ServiceInfo:
    full_name: str
    package: str
    methods: tuple[MethodInfo, ...]


def read_descriptor_set(path: Path) -> descriptor_pb2.FileDescriptorSet:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GatewayConfigError(
            f"cannot read the descriptor set {path}: {exc.strerror} (run `make gen`)"
        ) from exc
    try:
        return descriptor_pb2.FileDescriptorSet.FromString(data)
    except DecodeError as exc:
        raise GatewayConfigError(f"{path} is not a FileDescriptorSet: {exc}") from exc


def api_services(
    descriptor_set: descriptor_pb2.FileDescriptorSet, prefix: str = API_PACKAGE_PREFIX
) -> list[ServiceInfo]:
    """Every service in a package starting with ``prefix``, sorted by full name."""
    services: dict[str, ServiceInfo] = {}
    for file in descriptor_set.file:
        if not file.package.startswith(prefix):
            continue
        for service in file.service:
            full_name = f"{file.package}.{service.name}"
            methods = tuple(
                MethodInfo(
                    service=full_name,
                    name=method.name,
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                    http=_bindings(method),
                )
                for method in service.method
            )
            services[full_name] = ServiceInfo(full_name, file.package, methods)
    return [services[name] for name in sorted(services)]


def _bindings(method: descriptor_pb2.MethodDescriptorProto) -> tuple[HttpBinding, ...]:
    if not method.options.HasExtension(annotations_pb2.http):
        return ()
    rule = method.options.Extensions[annotations_pb2.http]
    out: list[HttpBinding] = []
    for one in (rule, *rule.additional_bindings):
        binding = _binding(one)
        if binding is not None:
            out.append(binding)
    return tuple(out)


def _binding(rule: http_pb2.HttpRule) -> HttpBinding | None:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        return None
    if kind == "custom":
        return HttpBinding(rule.custom.kind.upper(), rule.custom.path, rule.body)
    path = getattr(rule, kind)
    return HttpBinding(kind.upper(), str(path), rule.body)
