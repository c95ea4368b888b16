"""AIP-style conventions every RPC, resource and enum of crosstalk.* follows.

See docs/adr/0001-aip-style-apis.md. Each test collects every offender and
fails once, naming them all.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from google.api import annotations_pb2, field_behavior_pb2, http_pb2, resource_pb2
from google.protobuf import descriptor_pb2

pytestmark = pytest.mark.nodb

FieldProto = descriptor_pb2.FieldDescriptorProto
VERBS = ("get", "put", "post", "delete", "patch")
EMPTY = "google.protobuf.Empty"
FIELD_MASK = ".google.protobuf.FieldMask"
# A path variable: {field} or {field=pattern}.
VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")


def _fail(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n  " + "\n  ".join(sorted(problems)), pytrace=False)


def _http(method) -> http_pb2.HttpRule | None:
    options = method.proto.options
    if not options.HasExtension(annotations_pb2.http):
        return None
    return options.Extensions[annotations_pb2.http]


def _bindings(rule: http_pb2.HttpRule) -> list[tuple[str, str, str]]:
    """(verb, path template, body) of a rule and its additional bindings."""
    out = []
    for r in [rule, *rule.additional_bindings]:
        kind = r.WhichOneof("pattern")
        if kind == "custom":
            out.append((r.custom.kind.lower(), r.custom.path, r.body))
        elif kind in VERBS:
            out.append((kind, getattr(r, kind), r.body))
    return out


def _route_key(path: str) -> str:
    """The template with variable names dropped: what a router matches on."""
    return VARIABLE.sub(lambda m: "{" + (m.group(2) or "*") + "}", path)


def _field(message: descriptor_pb2.DescriptorProto, name: str) -> FieldProto | None:
    return next((f for f in message.field if f.name == name), None)


def test_every_rpc_has_an_http_rule(api) -> None:
    assert api.methods, "no RPCs found in the descriptor set"
    problems = []
    for method in api.methods:
        rule = _http(method)
        if rule is None:
            problems.append(f"{method.full_name} has no google.api.http option")
        elif not _bindings(rule):
            problems.append(f"{method.full_name} has a google.api.http option without a path")
    _fail(problems, "RPCs without a REST mapping")


def test_no_two_rpcs_share_verb_and_path(api) -> None:
    routes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for method in api.methods:
        rule = _http(method)
        for verb, path, _ in _bindings(rule) if rule else []:
            routes[(verb, _route_key(path))].append(f"{method.full_name} ({verb.upper()} {path})")
    problems = [
        f"{verb.upper()} {path} is bound by " + ", ".join(sorted(rpcs))
        for (verb, path), rpcs in routes.items()
        if len(rpcs) > 1
    ]
    _fail(problems, "verb+path collisions")


def test_list_methods_paginate(api) -> None:
    problems = []
    lists = [m for m in api.methods if m.name.startswith("List")]
    assert lists, "no List* RPCs found"
    for method in lists:
        request, response = api.message(method.input_type), api.message(method.output_type)
        expected = [
            (request, method.input_type, "page_size", FieldProto.TYPE_INT32, "an int32"),
            (request, method.input_type, "page_token", FieldProto.TYPE_STRING, "a string"),
            (response, method.output_type, "next_page_token", FieldProto.TYPE_STRING, "a string"),
        ]
        for message, message_name, name, type_, type_name in expected:
            f = _field(message, name)
            if f is None:
                problems.append(f"{method.full_name}: {message_name} has no field {name}")
            elif f.type != type_ or f.label == FieldProto.LABEL_REPEATED:
                problems.append(f"{method.full_name}: {message_name}.{name} is not {type_name}")
    _fail(problems, "List* RPCs without AIP-158 pagination")


def test_update_methods_take_a_field_mask_and_the_resource_as_body(api) -> None:
    problems = []
    updates = [m for m in api.methods if m.name.startswith("Update")]
    assert updates, "no Update* RPCs found"
    for method in updates:
        request = api.message(method.input_type)
        mask = _field(request, "update_mask")
        if mask is None:
            problems.append(f"{method.full_name}: {method.input_type} has no update_mask")
        elif mask.type_name != FIELD_MASK or mask.label == FieldProto.LABEL_REPEATED:
            problems.append(
                f"{method.full_name}: {method.input_type}.update_mask is "
                f"{mask.type_name or 'a scalar'}, not google.protobuf.FieldMask"
            )
        resource_fields = [
            f.name for f in request.field if f.type_name.lstrip(".") == method.output_type
        ]
        if len(resource_fields) != 1:
            problems.append(
                f"{method.full_name}: {method.input_type} should have exactly one field of the "
                f"returned type {method.output_type}, has {resource_fields or 'none'}"
            )
            continue
        resource_field = resource_fields[0]
        rule = _http(method)
        for verb, path, body in _bindings(rule) if rule else []:
            if body != resource_field:
                problems.append(
                    f"{method.full_name}: http body is {body!r}, expected {resource_field!r}"
                )
            if verb != "patch":
                problems.append(f"{method.full_name}: http verb is {verb.upper()}, expected PATCH")
            variables = [v.group(1) for v in VARIABLE.finditer(path)]
            if variables != [f"{resource_field}.name"]:
                problems.append(
                    f"{method.full_name}: path {path} should bind {{{resource_field}.name=...}}"
                )
    _fail(problems, "Update* RPCs breaking AIP-134")


def test_delete_methods_return_empty(api) -> None:
    problems = [
        f"{m.full_name} returns {m.output_type}, expected {EMPTY}"
        for m in api.methods
        if m.name.startswith("Delete") and m.output_type != EMPTY
    ]
    _fail(problems, "Delete* RPCs not returning google.protobuf.Empty")


def test_enum_zero_values_are_unspecified(api) -> None:
    assert api.enums, "no enums found"
    problems = []
    for name, enum in api.enums.items():
        zero = [v.name for v in enum.value if v.number == 0]
        if not zero:
            problems.append(f"{name} has no zero value")
        elif not zero[0].endswith("_UNSPECIFIED"):
            problems.append(f"{name}.{zero[0]} = 0 should end with _UNSPECIFIED")
    _fail(problems, "enums with a meaningful zero value")


def test_resources_have_an_identifier_name(api) -> None:
    problems = []
    types: dict[str, list[str]] = defaultdict(list)
    resources = [
        (name, msg)
        for name, msg in api.our_messages()
        if msg.options.HasExtension(resource_pb2.resource)
    ]
    assert resources, "no messages with a google.api.resource option found"
    for name, msg in resources:
        descriptor = msg.options.Extensions[resource_pb2.resource]
        types[descriptor.type].append(name)
        if descriptor.type != f"crosstalk.io/{msg.name}":
            problems.append(
                f"{name}: resource type {descriptor.type!r}, expected 'crosstalk.io/{msg.name}'"
            )
        if not descriptor.pattern:
            problems.append(f"{name}: google.api.resource has no pattern")
        first = next((f for f in msg.field if f.number == 1), None)
        if first is None or first.name != "name":
            problems.append(
                f"{name}: field 1 is {first.name if first else 'missing'}, expected name"
            )
            continue
        if first.type != FieldProto.TYPE_STRING or first.label == FieldProto.LABEL_REPEATED:
            problems.append(f"{name}.name is not a string")
        behaviours = list(first.options.Extensions[field_behavior_pb2.field_behavior])
        if field_behavior_pb2.IDENTIFIER not in behaviours:
            problems.append(f"{name}.name lacks (google.api.field_behavior) = IDENTIFIER")
    problems += [
        f"resource type {t} is declared by {', '.join(names)}"
        for t, names in types.items()
        if len(names) > 1
    ]
    _fail(problems, "resource messages breaking AIP-122/123")


def test_services_and_rpcs_are_documented(api) -> None:
    problems = []
    for file in api.files:
        comments = {
            tuple(loc.path): loc.leading_comments.strip() for loc in file.source_code_info.location
        }
        if not comments:
            pytest.fail(
                f"{file.name} has no source info in the descriptor set: run make gen", pytrace=False
            )
        for service, service_file, path in api.services:
            if service_file is file and not comments.get(path):
                problems.append(f"service {service} has no comment")
        for method in api.methods:
            if method.file is file and not comments.get(method.location_path):
                problems.append(f"RPC {method.full_name} has no comment")
    _fail(problems, "undocumented services and RPCs")
