"""An OpenAPI 3.1 document of the REST API, generated from the descriptor set.

The REST API is what Envoy's transcoder makes of the ``google.api.http`` rules in
``proto/``, so the document is built from the same descriptor set (with source info:
the comments become descriptions) and describes what the transcoder accepts and
prints (proto3 JSON):

* every HTTP binding of every ``crosstalk.*`` method is one operation; a path
  template's ``{name=customers/*}`` becomes literal segments and one path parameter
  per ``*`` (``/v1/customers/{customer_id}``), so a client never has to put a ``/``
  into a parameter;
* the request fields bound neither to the path nor to the body are query
  parameters (nested messages with dots, ``page.size``), the body is the whole
  request (``body: "*"``, less the path fields) or one field of it;
* a 200 response is the response message; every error (``default``) is a
  ``google.rpc.Status`` (the transcoder's ``convert_grpc_status`` and Envoy's own
  local replies both answer one);
* ``google.api.field_behavior``: REQUIRED fields are ``required``, OUTPUT_ONLY ones
  ``readOnly``; INPUT_ONLY ones say so in their description (not ``writeOnly``:
  the transcoder prints every primitive field, so a response carries their zero
  value);
* JSON names are the lowerCamel ``json_name``; enums are string enums of their
  value names; 64-bit integers are strings; Timestamp is a ``date-time`` string,
  Duration and FieldMask strings, Struct an object, Value anything, wrappers their
  value or null, ``google.api.HttpBody`` a raw body;
* methods in ``gateway.yaml``'s ``auth.public_methods`` need no token, the others a
  bearer token (identity's access token).
* a 200 response has OpenAPI links to the next steps of its resource's lifecycle
  (create -> get/update/delete/custom methods, get <-> update -> delete -> get):
  ``openapi_links.py``.

``crosstalk-openapi-gen`` (``make gen``) writes ``build/openapi.json``; the gateway
serves it at ``/openapi.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api import field_behavior_pb2  # type: ignore[import-untyped, unused-ignore]
from google.protobuf import descriptor_pb2

from .descriptors import HttpBinding, api_services, read_descriptor_set
from .openapi_links import Route, Variable, add_links
from .settings import GatewayConfigError, load_settings

OPENAPI_VERSION = "3.1.0"
OPENAPI_PATH = "/openapi.json"
STATUS_SCHEMA = "google.rpc.Status"
BEARER = "bearerAuth"

FieldProto = descriptor_pb2.FieldDescriptorProto
_T = FieldProto

# Proto3 JSON of the scalar types.
_INT64_PATTERN = r"^-?[0-9]+$"
_UINT64_PATTERN = r"^[0-9]+$"
_SCALARS: dict[int, dict[str, Any]] = {
    _T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _T.TYPE_FLOAT: {"type": "number", "format": "float"},
    _T.TYPE_INT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _T.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    _T.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295},
    _T.TYPE_INT64: {"type": "string", "format": "int64", "pattern": _INT64_PATTERN},
    _T.TYPE_SINT64: {"type": "string", "format": "int64", "pattern": _INT64_PATTERN},
    _T.TYPE_SFIXED64: {"type": "string", "format": "int64", "pattern": _INT64_PATTERN},
    _T.TYPE_UINT64: {"type": "string", "format": "uint64", "pattern": _UINT64_PATTERN},
    _T.TYPE_FIXED64: {"type": "string", "format": "uint64", "pattern": _UINT64_PATTERN},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}

_WRAPPERS = {
    "google.protobuf.DoubleValue": _T.TYPE_DOUBLE,
    "google.protobuf.FloatValue": _T.TYPE_FLOAT,
    "google.protobuf.Int64Value": _T.TYPE_INT64,
    "google.protobuf.UInt64Value": _T.TYPE_UINT64,
    "google.protobuf.Int32Value": _T.TYPE_INT32,
    "google.protobuf.UInt32Value": _T.TYPE_UINT32,
    "google.protobuf.BoolValue": _T.TYPE_BOOL,
    "google.protobuf.StringValue": _T.TYPE_STRING,
    "google.protobuf.BytesValue": _T.TYPE_BYTES,
}

# Well-known types as proto3 JSON prints them; inlined where they are used.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "A duration in seconds with up to nine fractional digits, e.g. `1.5s`.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated lowerCamel field paths, e.g. `displayName,tags`.",
    },
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.NullValue": {"type": "null"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}
HTTP_BODY = "google.api.HttpBody"

_STATUS: dict[str, Any] = {
    "type": "object",
    "description": (
        "A google.rpc.Status: the gRPC status code, a developer-facing message and "
        "details (google.rpc.BadRequest field violations, ErrorInfo, ...)."
    ),
    "properties": {
        "code": {"type": "integer", "format": "int32", "description": "The google.rpc.Code."},
        "message": {"type": "string"},
        "details": {"type": "array", "items": _WELL_KNOWN["google.protobuf.Any"]},
    },
    "required": ["code", "message"],
}


@dataclass
class _Source:
    """Leading comments by descriptor path, per file."""

    comments: dict[tuple[int, ...], str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Message:
    name: str
    proto: descriptor_pb2.DescriptorProto
    file: str
    path: tuple[int, ...]


class _Index:
    def __init__(self, descriptor_set: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, _Message] = {}
        self.enums: dict[str, tuple[descriptor_pb2.EnumDescriptorProto, str, tuple[int, ...]]] = {}
        self.sources: dict[str, _Source] = {}
        self.services: dict[str, tuple[descriptor_pb2.ServiceDescriptorProto, str, int]] = {}
        for file in descriptor_set.file:
            source = _Source()
            for location in file.source_code_info.location:
                text = _clean_comment(location.leading_comments or location.trailing_comments)
                if text:
                    source.comments[tuple(location.path)] = text
            self.sources[file.name] = source
            prefix = f"{file.package}." if file.package else ""
            for i, message in enumerate(file.message_type):
                self._collect(prefix + message.name, message, file.name, (4, i))
            for i, enum in enumerate(file.enum_type):
                self.enums[prefix + enum.name] = (enum, file.name, (5, i))
            for i, service in enumerate(file.service):
                self.services[prefix + service.name] = (service, file.name, i)

    def _collect(
        self, name: str, message: descriptor_pb2.DescriptorProto, file: str, path: tuple[int, ...]
    ) -> None:
        self.messages[name] = _Message(name, message, file, path)
        for i, nested in enumerate(message.nested_type):
            self._collect(f"{name}.{nested.name}", nested, file, (*path, 3, i))
        for i, enum in enumerate(message.enum_type):
            self.enums[f"{name}.{enum.name}"] = (enum, file, (*path, 4, i))

    def comment(self, file: str, path: tuple[int, ...]) -> str:
        return self.sources[file].comments.get(path, "")

    def message(self, type_name: str) -> _Message:
        return self.messages[type_name.lstrip(".")]


def _clean_comment(text: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in text.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def _behaviors(field_proto: FieldProto) -> set[int]:
    return set(field_proto.options.Extensions[field_behavior_pb2.field_behavior])


def schema_name(full_name: str) -> str:
    """A component name: the message's full name (``crosstalk.customers.v1.Customer``)."""
    return full_name.lstrip(".")


def _ref(full_name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema_name(full_name)}"}


class _Builder:
    def __init__(
        self, descriptor_set: descriptor_pb2.FileDescriptorSet, public_methods: Iterable[str]
    ) -> None:
        self.index = _Index(descriptor_set)
        self.descriptor_set = descriptor_set
        self.public = frozenset(public_methods)
        self.schemas: dict[str, Any] = {STATUS_SCHEMA: _STATUS}
        self._pending: list[str] = []
        self.routes: list[Route] = []

    # -- schemas ------------------------------------------------------------------------

    def type_schema(self, type_name: str) -> dict[str, Any]:
        """The schema of a message-typed value: a well-known type inline, else a $ref."""
        name = type_name.lstrip(".")
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name in _WRAPPERS:
            inner = dict(_SCALARS[_WRAPPERS[name]])
            return {"oneOf": [inner, {"type": "null"}]}
        if name == HTTP_BODY:
            return {"type": "string", "format": "binary"}
        if name not in self.schemas:
            self.schemas[name] = {}  # reserve: recursive messages refer to themselves
            self.schemas[name] = self._message_schema(name)
        return _ref(name)

    def enum_schema(self, type_name: str) -> dict[str, Any]:
        name = type_name.lstrip(".")
        if name == "google.protobuf.NullValue":
            return {"type": "null"}
        if name not in self.schemas:
            enum, file, path = self.index.enums[name]
            schema: dict[str, Any] = {"type": "string", "enum": [v.name for v in enum.value]}
            description = self.index.comment(file, path)
            values = [
                f"- `{v.name}`: {text}"
                for i, v in enumerate(enum.value)
                if (text := self.index.comment(file, (*path, 2, i)))
            ]
            if values:
                description = "\n\n".join(filter(None, [description, "\n".join(values)]))
            if description:
                schema["description"] = description
            self.schemas[name] = schema
        return _ref(name)

    def field_schema(self, field_proto: FieldProto) -> dict[str, Any]:
        if field_proto.label == _T.LABEL_REPEATED and self._is_map(field_proto):
            entry = self.index.message(field_proto.type_name).proto
            value = next(f for f in entry.field if f.name == "value")
            return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(field_proto)
        if field_proto.label == _T.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def _single(self, field_proto: FieldProto) -> dict[str, Any]:
        if field_proto.type == _T.TYPE_MESSAGE:
            return self.type_schema(field_proto.type_name)
        if field_proto.type == _T.TYPE_ENUM:
            return self.enum_schema(field_proto.type_name)
        return dict(_SCALARS[field_proto.type])

    def _is_map(self, field_proto: FieldProto) -> bool:
        if field_proto.type != _T.TYPE_MESSAGE:
            return False
        message = self.index.messages.get(field_proto.type_name.lstrip("."))
        return message is not None and message.proto.options.map_entry

    def _message_schema(self, name: str, *, omit: frozenset[str] = frozenset()) -> dict[str, Any]:
        message = self.index.messages[name]
        properties: dict[str, Any] = {}
        required: list[str] = []
        for i, field_proto in enumerate(message.proto.field):
            if field_proto.name in omit:
                continue
            json_name = field_proto.json_name or field_proto.name
            schema = self.field_schema(field_proto)
            behaviors = _behaviors(field_proto)
            extra: dict[str, Any] = {}
            description = self.index.comment(message.file, (*message.path, 2, i))
            if description:
                extra["description"] = description
            if field_behavior_pb2.OUTPUT_ONLY in behaviors:
                extra["readOnly"] = True
            if field_behavior_pb2.INPUT_ONLY in behaviors:
                # Not writeOnly: the transcoder prints every primitive field, so an
                # input-only string comes back as "" (never its value).
                note = "Input only: never returned (a response shows the zero value)."
                extra["description"] = f"{description}\n\n{note}" if description else note
            if field_proto.options.deprecated:
                extra["deprecated"] = True
            if extra:
                # 3.1 allows siblings next to $ref.
                schema = {**schema, **extra}
            properties[json_name] = schema
            if field_behavior_pb2.REQUIRED in behaviors:
                required.append(json_name)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        description = self.index.comment(message.file, message.path)
        if description:
            schema["description"] = description
        # The gateway refuses unknown body fields (body_fields.py); the transcoder
        # prints only declared ones.
        schema["additionalProperties"] = False
        return schema

    # -- operations ---------------------------------------------------------------------

    def operations(self) -> dict[str, dict[str, Any]]:
        paths: dict[str, dict[str, Any]] = {}
        seen_ids: set[str] = set()
        for service in api_services(self.descriptor_set):
            service_proto, file, service_index = self.index.services[service.full_name]
            for method_index, method in enumerate(service_proto.method):
                info = service.methods[method_index]
                if not info.http or info.client_streaming or info.server_streaming:
                    continue
                comment = self.index.comment(file, (6, service_index, 2, method_index))
                for n, binding in enumerate(info.http):
                    path, params = openapi_path(binding.path)
                    operation_id = f"{service_proto.name}_{method.name}"
                    if n:
                        operation_id += f"_{n + 1}"
                    if operation_id in seen_ids:
                        raise GatewayConfigError(f"operationId {operation_id} twice")
                    seen_ids.add(operation_id)
                    operation = self._operation(
                        info.key, method, binding, params, comment, operation_id
                    )
                    operation["tags"] = [service_proto.name]
                    verb = binding.verb.lower()
                    if verb not in {"get", "put", "post", "delete", "patch"}:
                        raise GatewayConfigError(
                            f"{info.key}: custom HTTP verb {binding.verb} has no OpenAPI form"
                        )
                    if verb in paths.setdefault(path, {}):
                        raise GatewayConfigError(f"{verb.upper()} {path} is bound twice")
                    paths[path][verb] = operation
                    self.routes.append(self._route(operation, path, verb, binding, params, method))
        return paths

    def _route(
        self,
        operation: dict[str, Any],
        path: str,
        verb: str,
        binding: HttpBinding,
        params: list[_PathParam],
        method: descriptor_pb2.MethodDescriptorProto,
    ) -> Route:
        """What the link builder needs to know of one operation."""
        variables = tuple(
            Variable(
                field=m.group(1),
                template=m.group(2) or "*",
                params=tuple(p.name for p in params if p.field == m.group(1)),
            )
            for m in _VARIABLE.finditer(binding.path)
        )
        output = method.output_type.lstrip(".")
        message = self.index.messages.get(output)
        fields = () if message is None else message.proto.field
        return Route(
            operation=operation,
            path=path,
            verb=verb,
            variables=variables,
            ends_with_variable=binding.path.endswith("}"),
            output=output,
            output_fields=tuple(
                (f.json_name or f.name, f.type_name.lstrip("."))
                for f in fields
                if f.type == _T.TYPE_MESSAGE and f.label != _T.LABEL_REPEATED
            ),
        )

    def _operation(
        self,
        key: str,
        method: descriptor_pb2.MethodDescriptorProto,
        binding: HttpBinding,
        params: list[_PathParam],
        comment: str,
        operation_id: str,
    ) -> dict[str, Any]:
        request = self.index.message(method.input_type)
        operation: dict[str, Any] = {"operationId": operation_id}
        if comment:
            summary, _, rest = comment.partition("\n\n")
            operation["summary"] = " ".join(summary.split())
            if rest.strip():
                operation["description"] = comment
        operation["x-grpc-method"] = key
        if method.options.deprecated:
            operation["deprecated"] = True
        parameters: list[dict[str, Any]] = []
        bound_top: set[str] = set()
        for param in params:
            bound_top.add(param.field.split(".")[0])
            parameters.append(
                {
                    "name": param.name,
                    "in": "path",
                    "required": True,
                    "description": (
                        f"The `{param.collection}` segment of `{param.field}` (`{param.template}`)."
                    ),
                    "schema": {"type": "string", "pattern": r"^[^/]+$"},
                }
            )
        bound_paths = {p.field for p in params} | {p.field for p in _literal_bindings(binding.path)}
        body_field = binding.body
        if body_field != "*":
            for query in self._query_parameters(
                request, prefix="", skip=bound_paths | ({body_field} if body_field else set())
            ):
                parameters.append(query)
        if parameters:
            operation["parameters"] = parameters
        if body_field:
            operation["requestBody"] = self._request_body(request, body_field, bound_top)
        operation["responses"] = {
            "200": self._response(method.output_type),
            "default": {"$ref": "#/components/responses/Error"},
        }
        if key in self.public:
            operation["security"] = []
        return operation

    def _request_body(
        self, request: _Message, body_field: str, bound_top: set[str]
    ) -> dict[str, Any]:
        name = request.name
        if body_field == "*":
            omit = frozenset(f.name for f in request.proto.field if f.name in bound_top)
            schema = self._message_schema(name, omit=omit) if omit else self.type_schema(name)
            return {"required": True, "content": {"application/json": {"schema": schema}}}
        field_proto = next(f for f in request.proto.field if f.name == body_field)
        if field_proto.type == _T.TYPE_MESSAGE and field_proto.type_name.lstrip(".") == HTTP_BODY:
            return {
                "required": True,
                "description": "The raw body (google.api.HttpBody), any content type.",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        return {
            "required": True,
            "content": {"application/json": {"schema": self.field_schema(field_proto)}},
        }

    def _response(self, output_type: str) -> dict[str, Any]:
        name = output_type.lstrip(".")
        if name == HTTP_BODY:
            return {
                "description": "The raw body (google.api.HttpBody) in its own content type.",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        return {
            "description": "OK",
            "content": {"application/json": {"schema": self.type_schema(name)}},
        }

    def _query_parameters(
        self,
        message: _Message,
        *,
        prefix: str,
        json_prefix: str = "",
        skip: set[str],
        depth: int = 0,
    ) -> list[dict[str, Any]]:
        """Fields not bound to the path or body, as the transcoder reads them from the
        query string: scalars, enums, repeated scalars, nested messages with dots."""
        out: list[dict[str, Any]] = []
        for i, field_proto in enumerate(message.proto.field):
            proto_path = prefix + field_proto.name
            if proto_path in skip:
                continue
            behaviors = _behaviors(field_proto)
            if field_behavior_pb2.OUTPUT_ONLY in behaviors:
                continue
            json_path = json_prefix + (field_proto.json_name or field_proto.name)
            repeated = field_proto.label == _T.LABEL_REPEATED
            type_name = field_proto.type_name.lstrip(".")
            description = self.index.comment(message.file, (*message.path, 2, i))
            if field_proto.type == _T.TYPE_MESSAGE:
                if self._is_map(field_proto) or repeated:
                    continue  # no query form
                if type_name in _WELL_KNOWN or type_name in _WRAPPERS:
                    scalar = self._query_scalar_schema(type_name)
                    if scalar is None:
                        continue
                    schema = scalar
                elif type_name == HTTP_BODY or depth >= 3:
                    continue
                else:
                    out.extend(
                        self._query_parameters(
                            self.index.messages[type_name],
                            prefix=proto_path + ".",
                            json_prefix=json_path + ".",
                            skip=skip,
                            depth=depth + 1,
                        )
                    )
                    continue
            else:
                schema = self._single(field_proto)
            param: dict[str, Any] = {"name": json_path, "in": "query"}
            if description:
                param["description"] = description
            if field_behavior_pb2.REQUIRED in behaviors:
                param["required"] = True
            if repeated:
                param["schema"] = {"type": "array", "items": schema}
                param["style"] = "form"
                param["explode"] = True
            else:
                param["schema"] = schema
            if field_proto.options.deprecated:
                param["deprecated"] = True
            out.append(param)
        return out

    @staticmethod
    def _query_scalar_schema(type_name: str) -> dict[str, Any] | None:
        if type_name in _WRAPPERS:
            return dict(_SCALARS[_WRAPPERS[type_name]])
        if type_name in {
            "google.protobuf.Timestamp",
            "google.protobuf.Duration",
            "google.protobuf.FieldMask",
        }:
            return dict(_WELL_KNOWN[type_name])
        return None


@dataclass(frozen=True)
class _PathParam:
    name: str  # the OpenAPI parameter, e.g. customer_id
    field: str  # the request field the segment belongs to, e.g. name or customer.name
    collection: str  # the literal before it, e.g. customers
    template: str  # the whole binding, e.g. customers/*


_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)(?:=([^}]*))?\}")


def openapi_path(template: str) -> tuple[str, list[_PathParam]]:
    """A path template as an OpenAPI path with one parameter per ``*``.

    ``/v1/{name=customers/*/notes/*}:pin`` -> ``/v1/customers/{customer_id}/notes/{note_id}:pin``.

    A variable without a template (``{name}``) is one segment named after its field.
    """
    params: list[_PathParam] = []
    used: set[str] = set()

    def unique(base: str) -> str:
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        return name

    def expand(match: re.Match[str]) -> str:
        field_path, pattern = match.group(1), match.group(2) or "*"
        segments = pattern.split("/")
        out: list[str] = []
        for i, segment in enumerate(segments):
            if segment == "**":
                raise GatewayConfigError(f"{template}: ** has no OpenAPI path form")
            if segment == "*":
                collection = segments[i - 1] if i > 0 else field_path.split(".")[-1]
                base = _snake(_singular(collection)) + "_id" if i > 0 else collection
                name = unique(base)
                params.append(_PathParam(name, field_path, collection, pattern))
                out.append("{" + name + "}")
            else:
                out.append(segment)
        return "/".join(out)

    return _VARIABLE.sub(expand, template), params


def _literal_bindings(template: str) -> list[_PathParam]:
    """Variables whose template has no ``*`` (``{name=ruleSettings}``): bound, no parameter."""
    return [
        _PathParam("", m.group(1), "", m.group(2))
        for m in _VARIABLE.finditer(template)
        if m.group(2) and "*" not in m.group(2)
    ]


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _snake(word: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", word).lower()


def build_openapi(
    descriptor_set: descriptor_pb2.FileDescriptorSet,
    public_methods: Iterable[str] = (),
    *,
    title: str = "Crosstalk API",
    version: str = "v1",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every transcoded ``crosstalk.*`` method."""
    builder = _Builder(descriptor_set, public_methods)
    paths = builder.operations()
    add_links(builder.routes)
    schemas = dict(sorted(builder.schemas.items()))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": (
                "The Crosstalk REST API, as the gateway transcodes it from the gRPC "
                "services (proto3 JSON, lowerCamel field names). Generated from proto/; "
                "every error is a google.rpc.Status."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{BEARER: []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "An error: a google.rpc.Status.",
                    "content": {"application/json": {"schema": _ref(STATUS_SCHEMA)}},
                }
            },
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from identity (Login, RefreshToken, "
                    "ExchangeApiKey).",
                }
            },
        },
    }


def transcoded_operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(x-grpc-method, VERB path) of every operation in a document."""
    out: set[tuple[str, str]] = set()
    for path, item in document.get("paths", {}).items():
        for verb, operation in item.items():
            out.add((operation["x-grpc-method"], f"{verb.upper()} {path}"))
    return out


def write_openapi(document: Mapping[str, Any], out: Path) -> Path:
    """Write the document as compact JSON, atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, ensure_ascii=False, separators=(",", ":"))
        os.chmod(tmp, 0o644)
        Path(tmp).replace(out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="crosstalk-openapi-gen",
        description="Generate the OpenAPI 3.1 document of the REST API from the descriptor set.",
    )
    parser.add_argument("--config", type=Path, default=Path("gateway/gateway.yaml"))
    parser.add_argument("--descriptor", type=Path, default=Path("build/api_descriptor.binpb"))
    parser.add_argument("--out", type=Path, default=Path("build/openapi.json"))
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        document = build_openapi(read_descriptor_set(args.descriptor), settings.auth.public_methods)
        out = write_openapi(document, args.out)
    except (GatewayConfigError, OSError) as exc:
        print(f"crosstalk-openapi-gen: {exc}", file=sys.stderr)
        return 1
    print(f"crosstalk-openapi-gen: wrote {out} ({len(document['paths'])} paths)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
