"""Refuse unknown JSON fields in REST request bodies.

Envoy's transcoder drops JSON fields it does not know (the transcoding library
parses with ``ignore_unknown_fields`` and Envoy 1.40 has no option to change it),
so ``{"bogusField": 1}`` would be accepted silently. A small Lua filter before the
transcoder walks the JSON body and answers 400 naming the first field the request
message does not have.

The generator gives it what it needs from the descriptor set: for every message of
the API, its field names (JSON and proto spellings, both of which the transcoder
accepts) and which fields hold messages; for every REST route, the message its body
is, per HTTP method (route metadata). Well-known types (Timestamp, Struct, Any ...)
and scalars are not looked into. A body that is not valid JSON is left to the
transcoder, which answers its own 400.

The transcoder also lets a body's resource ``name`` override the one its path names
(``PATCH /v1/members/0`` with ``{"name": "members/7"}`` would update members/7). For
routes whose whole path after a literal prefix is the body's ``name``
(``/v1/{member.name=members/*}``) the route metadata carries that field and prefix,
and the filter refuses a body whose top-level ``name`` differs from the path's
(query string cut, prefix dropped, percent-escapes decoded or not). An empty
``name`` is refused too: the transcoder would send it instead of the path's.

The same filter completes the transcoder's own 400s on the way back: a value of the
wrong type, an enum name or timestamp it cannot read, an unknown query parameter
(``rule.priority: invalid value "high" for type TYPE_INT32``) name the field only in
their message, so the answer gets a BadRequest field violation naming it, as every
other refusal has. Only 400 JSON answers of at most 4 KiB are read.

A path or query whose percent-escapes decode to invalid UTF-8
(``/v1/customers/%ff%fe``) is left to the service: the transcoder puts those bytes
into the string field they bind to, and every service answers INVALID_ARGUMENT
naming that field (``crosstalk_common.grpc.request_validation``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from .descriptors import API_PACKAGE_PREFIX, MethodInfo

FieldProto = descriptor_pb2.FieldDescriptorProto
LUA_FILTER = "envoy.filters.http.lua"
# Dynamic metadata the checker sets on a refusal: key "field", the unknown field's
# path; the local reply mappers (edge_policy) turn it into a BadRequest violation.
REPLY_METADATA_NAMESPACE = "crosstalk.gateway.reply"


@dataclass(frozen=True)
class BodySchemas:
    # message full name -> JSON key -> "" (not looked into), "<Type>" (a message, or
    # a list of them) or "{<Type>" (a map whose values are <Type> messages)
    messages: Mapping[str, Mapping[str, str]]


def body_schemas(descriptor_set: descriptor_pb2.FileDescriptorSet) -> BodySchemas:
    """Field specs of every API message (crosstalk.*), nested ones included."""
    all_messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    for file in descriptor_set.file:
        prefix = f"{file.package}." if file.package else ""
        for message in file.message_type:
            _collect(prefix + message.name, message, all_messages)
    specs: dict[str, dict[str, str]] = {}
    for name, message in all_messages.items():
        if not name.startswith(API_PACKAGE_PREFIX) or message.options.map_entry:
            continue
        fields: dict[str, str] = {}
        for field in message.field:
            spec = _field_spec(field, all_messages)
            fields[field.name] = spec
            fields[field.json_name or _lower_camel(field.name)] = spec
        specs[name] = fields
    return BodySchemas(messages=specs)


def body_message(
    method: MethodInfo, body: str, descriptor_set: descriptor_pb2.FileDescriptorSet
) -> str | None:
    """The API message a binding's JSON body is, or None (no body, or not checked)."""
    if not body:
        return None
    request = _method_input(method, descriptor_set)
    if request is None:
        return None
    if body == "*":
        return request if request.startswith(API_PACKAGE_PREFIX) else None
    message = _message(request, descriptor_set)
    if message is None:
        return None
    for field in message.field:
        if field.name == body and field.type == FieldProto.TYPE_MESSAGE:
            if field.label == FieldProto.LABEL_REPEATED:
                return None
            name = field.type_name.lstrip(".")
            return name if name.startswith(API_PACKAGE_PREFIX) else None
    return None


def path_name(verb: str, template: str, body: str) -> list[tuple[str, str]]:
    """Route metadata entries when the path after its literal prefix is the body's name.

    ``("PATCH", "/v1/{member.name=members/*}", "member")`` ->
    ``[("PATCH name", "member.name"), ("PATCH prefix", "/v1/")]``; else ``[]``.
    """
    field = "name" if body == "*" else f"{body}.name"
    prefix, brace, rest = template.partition("{")
    if not brace or not rest.endswith("}") or "}" in rest[:-1]:
        return []
    if rest[:-1].partition("=")[0] != field:
        return []
    return [(f"{verb} name", field), (f"{verb} prefix", prefix)]


def lua_filter(schemas: BodySchemas) -> dict[str, str]:
    """The Lua filter's typed_config (without @type)."""
    namespace = f'local REPLY_NAMESPACE = "{REPLY_METADATA_NAMESPACE}"\n'
    return {"inline_string": namespace + _LUA_CHECKER.replace("--[[TYPES]]", _lua_types(schemas))}


def _collect(
    name: str,
    message: descriptor_pb2.DescriptorProto,
    into: dict[str, descriptor_pb2.DescriptorProto],
) -> None:
    into[name] = message
    for nested in message.nested_type:
        _collect(f"{name}.{nested.name}", nested, into)


def _field_spec(field: FieldProto, messages: Mapping[str, descriptor_pb2.DescriptorProto]) -> str:
    if field.type != FieldProto.TYPE_MESSAGE:
        return ""
    name = field.type_name.lstrip(".")
    target = messages.get(name)
    if target is not None and target.options.map_entry:
        (value,) = [f for f in target.field if f.number == 2]
        inner = _field_spec(value, messages)
        return "{" + inner if inner else ""
    return name if name.startswith(API_PACKAGE_PREFIX) else ""


def _method_input(
    method: MethodInfo, descriptor_set: descriptor_pb2.FileDescriptorSet
) -> str | None:
    for file in descriptor_set.file:
        for service in file.service:
            if f"{file.package}.{service.name}" != method.service:
                continue
            for rpc in service.method:
                if rpc.name == method.name:
                    return rpc.input_type.lstrip(".")
    return None


def _message(
    name: str, descriptor_set: descriptor_pb2.FileDescriptorSet
) -> descriptor_pb2.DescriptorProto | None:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}
    for file in descriptor_set.file:
        prefix = f"{file.package}." if file.package else ""
        for message in file.message_type:
            _collect(prefix + message.name, message, found)
    return found.get(name)


def _lower_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _lua_types(schemas: BodySchemas) -> str:
    lines = ["local TYPES = {"]
    for name in sorted(schemas.messages):
        fields = ", ".join(
            f'["{key}"] = "{spec}"' for key, spec in sorted(schemas.messages[name].items())
        )
        lines.append(f'  ["{name}"] = {{{fields}}},')
    lines.append("}")
    return "\n".join(lines)


def route_metadata(bodies: Iterable[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """Route metadata for the Lua filter: HTTP method -> body message, and
    ``"<method> name"`` / ``"<method> prefix"`` from ``path_name``."""
    return {LUA_FILTER: dict(sorted(bodies))}


# The checker. It only reads: a body it cannot parse is the transcoder's business.
_LUA_CHECKER = r"""
--[[TYPES]]

local function syntax() error({syntax = true}, 0) end

local function skip(s, i)
  return string.find(s, "[^ \t\r\n]", i) or (#s + 1)
end

local function str(s, i)
  local j = i + 1
  while true do
    local k = string.find(s, '["\\]', j)
    if not k then syntax() end
    if string.byte(s, k) == 34 then return string.sub(s, i + 1, k - 1), k + 1 end
    j = k + 2
  end
end

local value
-- The top-level "name" strings of the body being read (raw, as in the JSON).
local TOP_NAMES = {}

local function utf8(cp)
  local f = math.floor
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + f(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return string.char(0xE0 + f(cp / 4096), 0x80 + f(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(
    0xF0 + f(cp / 262144), 0x80 + f(cp / 4096) % 64, 0x80 + f(cp / 64) % 64, 0x80 + cp % 64)
end

local ESCAPES = {b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"}

local function unescape(raw)
  if not string.find(raw, "\\", 1, true) then return raw end
  local out, i = {}, 1
  while i <= #raw do
    local c = string.sub(raw, i, i)
    if c ~= "\\" then
      out[#out + 1] = c
      i = i + 1
    elseif string.sub(raw, i + 1, i + 1) == "u" then
      local cp = tonumber(string.sub(raw, i + 2, i + 5), 16) or 0xFFFD
      i = i + 6
      if cp >= 0xD800 and cp < 0xDC00 and string.sub(raw, i, i + 1) == "\\u" then
        local low = tonumber(string.sub(raw, i + 2, i + 5), 16)
        if low and low >= 0xDC00 and low < 0xE000 then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
          i = i + 6
        end
      end
      out[#out + 1] = utf8(cp)
    else
      local e = string.sub(raw, i + 1, i + 1)
      out[#out + 1] = ESCAPES[e] or e
      i = i + 2
    end
  end
  return table.concat(out)
end

local function refuse(handle, field, description, message)
  -- Named in a BadRequest field violation by the gateway's local reply mapper.
  local metadata = handle:streamInfo():dynamicMetadata()
  metadata:set(REPLY_NAMESPACE, "field", field)
  metadata:set(REPLY_NAMESPACE, "description", description)
  handle:respond({[":status"] = "400", ["content-type"] = "text/plain"}, message)
end

-- The first top-level "name" that differs from the path's, or nil. An empty one
-- too: the transcoder would send it instead of the path's.
local function other_name(handle, method)
  local prefix = handle:metadata():get(method .. " prefix")
  if prefix == nil then return nil end
  local path = string.match(handle:headers():get(":path") or "", "^[^?#]*")
  if string.sub(path, 1, #prefix) ~= prefix then return nil end
  local raw = string.sub(path, #prefix + 1)
  local decoded = string.gsub(raw, "%%(%x%x)", function(hex)
    return string.char(tonumber(hex, 16))
  end)
  for _, name in ipairs(TOP_NAMES) do
    name = unescape(name)
    if name ~= raw and name ~= decoded then return name end
  end
  return nil
end

local function object(s, i, typename, is_map, path)
  i = skip(s, i + 1)
  if string.byte(s, i) == 125 then return i + 1 end
  local fields = (not is_map) and typename and TYPES[typename] or nil
  while true do
    if string.byte(s, i) ~= 34 then syntax() end
    local key
    key, i = str(s, i)
    i = skip(s, i)
    if string.byte(s, i) ~= 58 then syntax() end
    i = skip(s, i + 1)
    local spec = nil
    if is_map then
      spec = typename
    elseif fields ~= nil then
      spec = fields[key]
      if spec == nil then
        error({unknown = path .. key, message = typename}, 0)
      end
    end
    if path == "" and key == "name" and string.byte(s, i) == 34 then
      TOP_NAMES[#TOP_NAMES + 1] = (str(s, i))
    end
    i = value(s, i, spec, path .. key .. ".")
    i = skip(s, i)
    local c = string.byte(s, i)
    if c == 44 then
      i = skip(s, i + 1)
    elseif c == 125 then
      return i + 1
    else
      syntax()
    end
  end
end

value = function(s, i, spec, path)
  local c = string.byte(s, i)
  if c == 123 then
    if spec ~= nil and spec ~= "" then
      if string.byte(spec, 1) == 123 then
        return object(s, i, string.sub(spec, 2), true, path)
      end
      return object(s, i, spec, false, path)
    end
    return object(s, i, nil, false, path)
  elseif c == 91 then
    i = skip(s, i + 1)
    if string.byte(s, i) == 93 then return i + 1 end
    while true do
      i = skip(s, value(s, i, spec, path))
      local d = string.byte(s, i)
      if d == 44 then
        i = skip(s, i + 1)
      elseif d == 93 then
        return i + 1
      else
        syntax()
      end
    end
  elseif c == 34 then
    local _, j = str(s, i)
    return j
  end
  local j = string.find(s, "[,}%] \t\r\n]", i)
  if j == nil then return #s + 1 end
  if j == i then syntax() end
  return j
end

-- The transcoder's own 400s (a value of the wrong type, an enum name it does not
-- know, a bad timestamp, an unknown query parameter) name the field only in their
-- message; the local reply mapper has made them {"code":3,"details":[],"message":...}.
-- Those that name one get it as a BadRequest field violation too, as the services'
-- own refusals do. Only small 400 JSON answers are read.
local TRANSCODER_REPLY = '^{"code":3,"details":%[%],"message":"(.*)"}%s*$'
local FIELD_PATH = "^[%w_][%w_%.%[%]]*$"

local function violation_of(message)
  local field, rest = string.match(message, "^([^ :]+): (invalid value .*)$")
  if field ~= nil and string.find(field, FIELD_PATH) then return field, rest end
  field = string.match(message, '^Could not find field \\"([^\\"]+)\\" in the type ')
  if field ~= nil and string.find(field, FIELD_PATH) then
    return field, "is not a field of this request"
  end
  return nil, nil
end

function envoy_on_response(handle)
  local headers = handle:headers()
  if headers:get(":status") ~= "400" then return end
  if string.find(headers:get("content-type") or "", "application/json", 1, true) ~= 1 then
    return
  end
  local length = tonumber(headers:get("content-length") or "")
  if length == nil or length > 4096 then return end
  local body = handle:body()
  if body == nil then return end
  local message = string.match(body:getBytes(0, body:length()), TRANSCODER_REPLY)
  if message == nil then return end
  local field, description = violation_of(message)
  if field == nil then return end
  body:setBytes('{"code":3,"message":"' .. message .. '","details":[{"@type":'
    .. '"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"'
    .. field .. '","description":"' .. description .. '"}]}]}')
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local method = headers:get(":method")
  local typename = method and handle:metadata():get(method)
  if typename == nil then return end
  local content_type = headers:get("content-type") or ""
  if string.find(content_type, "application/grpc", 1, true) == 1 then return end
  local body = handle:body()
  if body == nil or body:length() == 0 then return end
  local s = body:getBytes(0, body:length())
  TOP_NAMES = {}
  local ok, err = pcall(value, s, skip(s, 1), typename, "")
  if ok and other_name(handle, method) ~= nil then
    local field = handle:metadata():get(method .. " name")
    refuse(handle, field, "must be left out or name the resource of the path",
      field .. " differs from the name in the path")
  elseif not ok and type(err) == "table" and err.unknown ~= nil then
    local field = err.unknown
    if string.find(field, "^[%w_%.]+$") then
      refuse(handle, field, "is not a field of this request",
        "Unknown field " .. field .. " in " .. err.message)
    else
      handle:respond(
        {[":status"] = "400", ["content-type"] = "text/plain"},
        "Unknown field in " .. err.message
      )
    end
  end
end
"""
