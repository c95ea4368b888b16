"""Customer import: which column feeds which field, and what each row becomes.

Pure: the adapters read a file (csv or xlsx) into a header and rows of cell
values; the use case supplies the tenant's custom fields and tags and what
already exists, and this module decides, row by row, the customer a row
describes or what is wrong with it (row number and column, as a spreadsheet
shows them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from functools import cached_property
from typing import Any

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import FieldViolation, InvalidArgument
from customers.domain.duplicates import contact_keys
from customers.domain.model import (
    MAX_NAME_LENGTH,
    ChannelIdentity,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    validate_custom_fields,
    validate_profile,
)

# Below the gRPC message limit (16 MiB, crosstalk_common.grpc.server) with room for
# the request's other fields.
MAX_FILE_BYTES = 15 * 1024 * 1024
CUSTOM_FIELD_PREFIX = "custom_fields."


class FileFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"


class MatchPolicy(Enum):
    """What a row matching an existing customer does to it."""

    SKIP = "skip"
    UPDATE = "update"


# Columns holding a channel identity, and the channel of each.
IDENTITY_FIELDS: dict[str, Channel] = {
    "amazon_buyer_id": Channel.AMAZON,
    "ebay_user": Channel.EBAY,
    "shopee_user": Channel.SHOPEE,
    "whatsapp": Channel.WHATSAPP,
    "web_chat_id": Channel.WEB_CHAT,
}
# Fields a cell may hold several values of ("a@x.com; b@y.com"); several
# columns may feed them.
LIST_FIELDS = ("emails", "phones", "tags")
SINGLE_FIELDS = ("display_name", "country", "language", "time_zone", "owner", "store")
IMPORT_FIELDS = (*SINGLE_FIELDS, *LIST_FIELDS, *IDENTITY_FIELDS)
# Fields that say who a row is; a file needs a column for one of them.
_IDENTIFYING = ("display_name", "emails", "phones", *IDENTITY_FIELDS)

# Header texts (compared after `_normal`) read into each field by default,
# besides the field's own name.
_HEADERS: dict[str, tuple[str, ...]] = {
    "display_name": ("name", "customer", "customer name", "full name", "姓名", "客户", "客户名称"),
    "emails": ("email", "e mail", "email address", "mail", "邮箱", "电子邮件"),
    "phones": ("phone", "phone number", "mobile", "telephone", "tel", "电话", "手机"),
    "country": ("country code", "market", "国家"),
    "language": ("lang", "语言"),
    "time_zone": ("timezone", "tz", "时区"),
    "owner": ("owner member", "负责人"),
    "store": ("shop", "店铺"),
    "tags": ("tag", "标签"),
    "amazon_buyer_id": ("amazon", "amazon buyer", "amazon id"),
    "ebay_user": ("ebay", "ebay id", "ebay user id"),
    "shopee_user": ("shopee", "shopee id"),
    "whatsapp": ("whatsapp number", "whatsapp id"),
    "web_chat_id": ("web chat", "webchat"),
}
_SEPARATORS = re.compile(r"[,;\n\uff0c\uff1b]")
_PHONE = re.compile(r"^\+?[0-9 ()./-]+$")
_TRUE = frozenset({"true", "yes", "y", "1", "是"})
_FALSE = frozenset({"false", "no", "n", "0", "否"})


def _normal(header: str) -> str:
    """ "E-Mail", "e_mail " and "e mail" read alike."""
    return " ".join(re.split(r"[\s_\-]+", header.strip().casefold())).strip()


_ALIASES: dict[str, str] = {
    _normal(name): target for target, names in _HEADERS.items() for name in (target, *names)
}


def field_of(name: str, definitions: Mapping[str, CustomFieldDefinition]) -> str | None:
    """The import field a header or mapping names, or None."""
    normal = _normal(name)
    if normal in _ALIASES:
        return _ALIASES[normal]
    key = name.strip()
    key = key[len(CUSTOM_FIELD_PREFIX) :] if key.startswith(CUSTOM_FIELD_PREFIX) else key
    if key in definitions:
        return CUSTOM_FIELD_PREFIX + key
    for definition in definitions.values():
        if _normal(definition.display_name) == normal:
            return CUSTOM_FIELD_PREFIX + definition.key
    return None


@dataclass(frozen=True)
class Column:
    index: int
    # The header text as the file has it (row errors name it).
    header: str
    field: str


@dataclass(frozen=True)
class ColumnPlan:
    columns: tuple[Column, ...]

    def header(self, target: str) -> str:
        """The (first) column a field is read from, "" when none."""
        return next((c.header for c in self.columns if c.field == target), "")


def _field_list() -> str:
    return ", ".join(IMPORT_FIELDS) + " or custom_fields.<key>"


def plan_columns(
    header: Sequence[str],
    mappings: Sequence[tuple[str, str]],
    definitions: Mapping[str, CustomFieldDefinition],
) -> ColumnPlan:
    """Which column feeds which field: explicit mappings first, then by header text.

    A mapping to "" ignores its column; columns no mapping names are read by
    their header when it names a field, and ignored otherwise.
    """
    problems = check_mappings(mappings, definitions)
    texts = [h.strip() for h in header]
    by_text = {_normal(t): i for i, t in reversed(list(enumerate(texts))) if t}
    chosen: dict[int, str] = {}
    mapped: set[int] = set()
    for i, (column, target) in enumerate(mappings):
        index = by_text.get(_normal(column))
        if index is None:
            shown = ", ".join(repr(t) for t in texts if t) or "none"
            problems.append(
                FieldViolation(
                    f"column_mappings[{i}].column",
                    f"the file has no column {column!r}; its columns are {shown}",
                )
            )
            continue
        mapped.add(index)
        resolved = field_of(target, definitions) if target.strip() else None
        if resolved is not None:
            chosen[index] = resolved
    for index, text in enumerate(texts):
        if index in mapped or not text:
            continue
        resolved = field_of(text, definitions)
        if resolved is not None:
            chosen[index] = resolved
    columns = tuple(Column(i, texts[i], target) for i, target in sorted(chosen.items()))
    seen: dict[str, str] = {}
    for planned in columns:
        if planned.field in seen and planned.field not in LIST_FIELDS:
            problems.append(
                FieldViolation(
                    "column_mappings",
                    f"columns {seen[planned.field]!r} and {planned.header!r} both fill "
                    f'{planned.field}; map one of them to another field or to ""',
                )
            )
        seen.setdefault(planned.field, planned.header)
    if not problems and not any(c.field in _IDENTIFYING for c in columns):
        problems.append(
            FieldViolation(
                "content",
                "no column names the customer: the header row (row 1) needs a name, email, "
                "phone or channel id column such as amazon_buyer_id (or map one with "
                "column_mappings)",
            )
        )
    if problems:
        raise InvalidArgument(problems)
    return ColumnPlan(columns)


def check_mappings(
    mappings: Sequence[tuple[str, str]], definitions: Mapping[str, CustomFieldDefinition]
) -> list[FieldViolation]:
    """Mappings naming no field (checked before the file is read)."""
    problems: list[FieldViolation] = []
    for i, (column, target) in enumerate(mappings):
        if not column.strip():
            problems.append(FieldViolation(f"column_mappings[{i}].column", "name a column"))
        if target.strip() and field_of(target, definitions) is None:
            if target.strip().startswith(CUSTOM_FIELD_PREFIX):
                why = (
                    f"the tenant has no custom field {target.strip()[len(CUSTOM_FIELD_PREFIX) :]!r}"
                )
            else:
                why = f"{target!r} is not a customer field: use {_field_list()}"
            problems.append(FieldViolation(f"column_mappings[{i}].field", why))
    return problems


# --- rows ---------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row: its 1-based number (the header is row 1) and column."""

    row: int
    column: str
    message: str
    value: str = ""


@dataclass(frozen=True)
class ImportedRow:
    """One data row read into customer values; only non-empty mapped cells count."""

    row: int
    display_name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    country: str = ""
    language: str = ""
    time_zone: str = ""
    owner_member_id: str = ""
    identities: tuple[ChannelIdentity, ...] = ()
    tag_names: tuple[str, ...] = ()
    custom_fields: dict[str, object] = field(default_factory=dict)
    # Field -> the column it came from (row errors name it).
    sources: dict[str, str] = field(default_factory=dict)

    @cached_property
    def keys(self) -> RowKeys:
        return RowKeys(self.identities, self.emails, self.phones)

    def value_of(self, field_path: str) -> str:
        """The cell value a violation's field path is about, "" when unknown."""
        path = field_path.removeprefix("customer.")
        if path.startswith("custom_fields["):
            key = path[len("custom_fields[") :].split("]", 1)[0]
            return cell_text(self.custom_fields.get(key))
        base = re.split(r"[.\[]", path, maxsplit=1)[0]
        index = re.findall(r"\[(\d+)\]", path)
        values = getattr(self, base, None)
        if isinstance(values, tuple) and index and int(index[0]) < len(values):
            item = values[int(index[0])]
            return item.external_id if isinstance(item, ChannelIdentity) else str(item)
        return values if isinstance(values, str) else ""

    def column_of(self, field_path: str) -> str:
        """The column of a violation's field path, e.g. "customer.emails[1]" -> "email"."""
        path = field_path.removeprefix("customer.")
        if path.startswith("custom_fields["):
            key = path[len("custom_fields[") :].split("]", 1)[0]
            return self.sources.get(CUSTOM_FIELD_PREFIX + key, key)
        base = re.split(r"[.\[]", path, maxsplit=1)[0]
        if base == "identities":
            index = re.findall(r"\[(\d+)\]", path)
            if index and int(index[0]) < len(self.identities):
                channel = self.identities[int(index[0])].channel
                name = next(n for n, c in IDENTITY_FIELDS.items() if c is channel)
                return self.sources.get(name, "")
            return ""
        return self.sources.get(base, "")


@dataclass(frozen=True)
class RowKeys:
    """What a row is matched to existing customers by, in this order: channel
    identities, then emails, then phones (as customer_contact_keys holds them)."""

    identities: tuple[ChannelIdentity, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    def all(self) -> tuple[tuple[str, str], ...]:
        return self._all

    @cached_property
    def _all(self) -> tuple[tuple[str, str], ...]:
        # Worked out once: a row's keys are looked up, matched and remembered.
        keys = [("identity", identity_key(i)) for i in self.identities]
        for email in self.emails:
            keys.extend(contact_keys((email,), ()))
        for phone in self.phones:
            keys.extend(contact_keys((), (phone,)))
        return tuple(dict.fromkeys(keys))


def identity_key(identity: ChannelIdentity) -> str:
    return f"{identity.channel.value}:{identity.store}:{identity.external_id}"


def cell_text(value: object) -> str:
    """A cell as text: numbers typed into spreadsheets lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    # Exports quote text that would read as a formula with an apostrophe.
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
        return text[1:]
    return text


def split_list(text: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def normalize_phone(text: str) -> str:
    return " ".join(text.split())


def read_row(
    plan: ColumnPlan,
    number: int,
    cells: Sequence[object],
    definitions: Mapping[str, CustomFieldDefinition],
) -> tuple[ImportedRow, list[RowError]]:
    """The values of one row and the problems of its cells (each cell checked alone)."""
    values: dict[str, Any] = {}
    lists: dict[str, list[str]] = {name: [] for name in LIST_FIELDS}
    custom: dict[str, object] = {}
    sources: dict[str, str] = {}
    identities: list[tuple[str, str]] = []
    errors: list[RowError] = []

    def fail(column: Column, message: str, raw: object) -> None:
        errors.append(RowError(number, column.header, message, cell_text(raw)))

    for column in plan.columns:
        raw = cells[column.index] if column.index < len(cells) else None
        text = cell_text(raw)
        if not text:
            continue
        target = column.field
        sources.setdefault(target, column.header)
        if target.startswith(CUSTOM_FIELD_PREFIX):
            key = target[len(CUSTOM_FIELD_PREFIX) :]
            parsed, problem = _custom_value(definitions[key], raw, text)
            if problem:
                fail(column, problem, raw)
            else:
                custom[key] = parsed
        elif target in LIST_FIELDS:
            lists[target].extend(split_list(text))
        elif target in IDENTITY_FIELDS:
            identities.append((target, text))
        elif target == "owner":
            member = text.removeprefix("members/")
            if not member or "/" in member:
                fail(column, "must be a member: 'members/{id}' or the member id", raw)
            else:
                values["owner_member_id"] = member
        elif target == "country":
            values["country"] = text.upper()
        else:
            values[target] = text
    for phone in lists["phones"]:
        if not _PHONE.match(phone) or sum(map(str.isdigit, phone)) < 4:
            errors.append(
                RowError(
                    number,
                    sources["phones"],
                    f"{phone!r} is not a phone number (digits, spaces, + ( ) - . /)",
                    phone,
                )
            )
    store = values.pop("store", "")
    row = ImportedRow(
        row=number,
        display_name=values.get("display_name", ""),
        emails=tuple(dict.fromkeys(e.lower() for e in lists["emails"])),
        phones=tuple(dict.fromkeys(normalize_phone(p) for p in lists["phones"])),
        country=values.get("country", ""),
        language=values.get("language", ""),
        time_zone=values.get("time_zone", ""),
        owner_member_id=values.get("owner_member_id", ""),
        identities=tuple(
            dict.fromkeys(
                ChannelIdentity(IDENTITY_FIELDS[name], text, store).normalized()
                for name, text in identities
            )
        ),
        tag_names=tuple(dict.fromkeys(lists["tags"])),
        custom_fields=custom,
        sources=sources,
    )
    # Each cell alone: whether the row names the customer is decided later
    # (a row matching an existing customer needs no name).
    errors.extend(_profile_errors(row, as_draft(row, tenant_id="", placeholder_name="-")))
    if row.custom_fields:
        given = {key: definitions[key] for key in row.custom_fields}
        errors.extend(_custom_errors(row, row.custom_fields, given))
    if len(errors) > 1:
        position = {c.header: c.index for c in plan.columns}
        errors.sort(key=lambda e: position.get(e.column, len(cells)))
    row.keys.all()  # worked out here, in the reader (see RowKeys)
    return row, errors


def _custom_value(definition: CustomFieldDefinition, raw: object, text: str) -> tuple[object, str]:
    """A cell as the JSON value of its custom field type, or why it cannot be one."""
    kind = definition.type
    if kind is CustomFieldType.NUMBER:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return raw, ""
        try:
            number = float(text.replace(" ", ""))
        except ValueError:
            return None, "must be a number"
        return (int(number) if number.is_integer() else number), ""
    if kind is CustomFieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw, ""
        lowered = text.casefold()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE, ""
        return None, "must be true or false (also yes/no, 1/0)"
    if kind is CustomFieldType.DATE:
        if isinstance(raw, datetime | date):
            day = raw.date() if isinstance(raw, datetime) else raw
            return day.isoformat(), ""
        return text, ""
    if kind is CustomFieldType.MULTI_SELECT:
        return split_list(text), ""
    return text, ""


def as_draft(
    row: ImportedRow,
    *,
    tenant_id: str,
    customer_id: str = "",
    owner: str = "",
    department: str = "",
    tags: frozenset[str] = frozenset(),
    now: datetime | None = None,
    placeholder_name: str = "",
) -> Customer:
    """The customer a row creates.

    Without a name column the first email, phone or channel id names it.
    """
    name = row.display_name or next(
        iter([*row.emails, *row.phones, *(i.external_id for i in row.identities)]),
        placeholder_name,
    )
    return Customer(
        id=customer_id,
        tenant_id=tenant_id,
        display_name=name,
        emails=row.emails,
        phones=row.phones,
        country=row.country,
        language=row.language,
        time_zone=row.time_zone,
        identities=row.identities,
        tags=tags,
        owner_member_id=row.owner_member_id or owner,
        department_id=department,
        custom_fields=dict(row.custom_fields),
        created_at=now,
        updated_at=now,
    )


def new_customer_errors(
    row: ImportedRow, customer: Customer, definitions: Mapping[str, CustomFieldDefinition]
) -> list[RowError]:
    """What a new customer lacks beyond its cells (read_row checked those): a
    name, and the custom fields the tenant requires."""
    if not customer.display_name:
        return [RowError(row.row, "", "the row has no name, email, phone or channel id", "")]
    if len(customer.display_name) > MAX_NAME_LENGTH:
        return [
            RowError(
                row.row,
                row.sources.get("display_name", ""),
                f"a name has at most {MAX_NAME_LENGTH} characters",
                customer.display_name,
            )
        ]
    return [
        RowError(row.row, definition.key, "a value is required (the field is required)", "")
        for definition in definitions.values()
        if definition.required and definition.key not in customer.custom_fields
    ]


def apply_row(existing: Customer, row: ImportedRow) -> tuple[Customer, list[str]]:
    """An existing customer with the row's values written over it, and the fields changed.

    Empty cells change nothing; identities and custom fields are added to
    those the customer has.
    """
    changes: dict[str, Any] = {}
    for name in ("display_name", "country", "language", "time_zone", "owner_member_id"):
        value = getattr(row, name)
        if value and value != getattr(existing, name):
            changes[name] = value
    for name in ("emails", "phones"):
        value = getattr(row, name)
        if value and value != getattr(existing, name):
            changes[name] = value
    identities = tuple(dict.fromkeys((*existing.identities, *row.identities)))
    if identities != existing.identities:
        changes["identities"] = identities
    merged = {**existing.custom_fields, **row.custom_fields}
    if merged != existing.custom_fields:
        changes["custom_fields"] = merged
    changed = ["owner" if name == "owner_member_id" else name for name in sorted(changes)]
    return replace(existing, **changes), changed


def updated_customer_errors(
    row: ImportedRow, customer: Customer, definitions: Mapping[str, CustomFieldDefinition]
) -> list[RowError]:
    return _profile_errors(row, customer) + _custom_errors(row, customer.custom_fields, definitions)


def _profile_errors(row: ImportedRow, customer: Customer) -> list[RowError]:
    try:
        validate_profile(customer)
    except InvalidArgument as exc:
        return [_row_error(row, v) for v in exc.violations]
    return []


def _custom_errors(
    row: ImportedRow,
    values: dict[str, object],
    definitions: Mapping[str, CustomFieldDefinition],
) -> list[RowError]:
    try:
        validate_custom_fields(values, dict(definitions))
    except InvalidArgument as exc:
        return [_row_error(row, v) for v in exc.violations]
    return []


def _row_error(row: ImportedRow, violation: FieldViolation) -> RowError:
    column = row.column_of(violation.field)
    path = violation.field.removeprefix("customer.")
    message = violation.description
    if not column and path:
        message = f"{path}: {message}"
    return RowError(row.row, column, message, row.value_of(violation.field))
