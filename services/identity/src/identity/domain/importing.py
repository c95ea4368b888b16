"""Member import: from the rows of a file to the members it creates, row by row.

Pure: the adapters read the file (csv or xlsx) into header + rows; the use
case supplies what exists (departments, roles, emails) and this module decides,
for each row, the member it yields or what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from crosstalk_common.errors import FieldViolation, InvalidArgument
from identity.domain.model import (
    email_problem,
    language_problem,
    name_problem,
    normalize_email,
    phone_problem,
)

MAX_ROWS = 20_000
# Header texts (case-insensitive) each member field is read from by default.
FIELD_HEADERS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "邮箱"),
    "display_name": ("name", "display_name", "display name", "姓名"),
    "phone": ("phone", "手机", "电话"),
    "department": ("department", "部门"),
    "role": ("role", "角色"),
    "languages": ("languages", "language", "语言"),
}
REQUIRED_FIELDS = ("email", "display_name")
_Fail = Callable[[str, str, str], None]
_LIST_SEPARATOR = re.compile("[,;\uff0c\uff1b]")  # also the full-width comma and semicolon


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str
    value: str = ""


@dataclass(frozen=True)
class PlannedMember:
    row: int
    email: str
    display_name: str
    phone: str
    department_id: str
    role: str
    languages: tuple[str, ...]
    # Set when a member with this email exists in the tenant (update_existing).
    existing_member_id: str = ""


@dataclass(frozen=True)
class ImportPlan:
    total_rows: int
    members: list[PlannedMember] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def invalid_rows(self) -> int:
        return len({e.row for e in self.errors})


@dataclass(frozen=True)
class Sheet:
    """A file's header row and data rows, each with its row number in the file."""

    header: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass(frozen=True)
class ImportContext:
    """What exists, as the planner needs it."""

    # lower-cased department path or name -> id (None: ambiguous name)
    departments: Mapping[str, str | None]
    # lower-cased built-in id or custom role name -> role id
    roles: Mapping[str, str]
    # role ids the caller may hand out (their permissions are within the caller's)
    grantable_roles: frozenset[str]
    # email -> (tenant id, member id) of members that exist
    existing: Mapping[str, tuple[str, str]]
    tenant_id: str
    default_role: str = "normal"
    update_existing: bool = False


def column_map(header: Sequence[str], mappings: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Member field -> column index, by header name or by explicit mappings."""
    lowered = [h.strip().casefold() for h in header]
    found: dict[str, int] = {}
    problems: list[FieldViolation] = []
    if mappings:
        for i, (column, target) in enumerate(mappings):
            if not target:
                continue
            target = "display_name" if target == "name" else target
            if target not in FIELD_HEADERS:
                problems.append(
                    FieldViolation(
                        f"column_mappings[{i}].field",
                        f"{target!r} is not a member field: use one of {', '.join(FIELD_HEADERS)}",
                    )
                )
                continue
            if column.strip().casefold() not in lowered:
                problems.append(
                    FieldViolation(
                        f"column_mappings[{i}].column", f"the file has no column {column!r}"
                    )
                )
                continue
            found[target] = lowered.index(column.strip().casefold())
    for target, names in FIELD_HEADERS.items():
        if target in found:
            continue
        for name in names:
            if name in lowered:
                found[target] = lowered.index(name)
                break
    for target in REQUIRED_FIELDS:
        if target not in found:
            problems.append(
                FieldViolation(
                    "content",
                    f"the file has no {FIELD_HEADERS[target][0]!r} column "
                    f"(the first row must name the columns)",
                )
            )
    if problems:
        raise InvalidArgument(problems)
    return found


def plan_import(
    sheet: Sheet, mappings: Sequence[tuple[str, str]], context: ImportContext
) -> ImportPlan:
    columns = column_map(sheet.header, mappings)
    checker = _RowChecker(
        columns, {target: sheet.header[i].strip() for target, i in columns.items()}, context
    )
    plan = ImportPlan(total_rows=len(sheet.rows))
    for row_number, cells in sheet.rows:
        planned, errors = checker.check(row_number, cells)
        plan.errors.extend(errors)
        if planned is not None:
            plan.members.append(planned)
    return plan


class _RowChecker:
    def __init__(
        self, columns: dict[str, int], header_of: dict[str, str], context: ImportContext
    ) -> None:
        self._columns = columns
        self._header_of = header_of
        self._context = context
        self._first_row_of: dict[str, int] = {}

    def check(self, row: int, cells: list[str]) -> tuple[PlannedMember | None, list[RowError]]:
        errors: list[RowError] = []

        def cell(target: str) -> str:
            index = self._columns.get(target)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        def fail(target: str, message: str, value: str) -> None:
            errors.append(RowError(row, self._header_of.get(target, target), message, value))

        existing_id, email = self._email(row, cell("email"), fail)
        name = cell("display_name")
        bad = name_problem(name)
        if bad:
            fail("display_name", f"the name {bad}", name)
        phone = cell("phone")
        bad = phone_problem(phone)
        if bad:
            fail("phone", f"the phone {bad}", phone)
        department_id = self._department(cell("department").strip("/ "), fail)
        role_id = self._role(cell("role"), fail)
        languages: list[str] = []
        for code in (c.strip() for c in _LIST_SEPARATOR.split(cell("languages"))):
            if not code:
                continue
            bad = language_problem(code)
            if bad:
                fail("languages", bad, code)
            elif code not in languages:
                languages.append(code)
        if errors:
            return None, errors
        return (
            PlannedMember(
                row=row,
                email=email,
                display_name=name,
                phone=phone,
                department_id=department_id,
                role=role_id,
                languages=tuple(languages),
                existing_member_id=existing_id,
            ),
            [],
        )

    def _email(self, row: int, raw: str, fail: _Fail) -> tuple[str, str]:
        email = normalize_email(raw)
        bad = email_problem(email)
        if bad:
            fail("email", f"the email {bad}", raw)
            return "", email
        if email in self._first_row_of:
            fail("email", f"duplicate of row {self._first_row_of[email]} in this file", raw)
            return "", email
        self._first_row_of[email] = row
        owner = self._context.existing.get(email)
        if owner is None:
            return "", email
        if owner[0] != self._context.tenant_id:
            fail("email", "this email is already registered", raw)
        elif not self._context.update_existing:
            fail("email", "already a member (set update_existing to update them)", raw)
        else:
            return owner[1], email
        return "", email

    def _department(self, text: str, fail: _Fail) -> str:
        if not text:
            return ""
        key = "/".join(part.strip() for part in text.split("/")).casefold()
        if key not in self._context.departments:
            fail("department", "unknown department (use a name or a path like 'Sales/DE')", text)
            return ""
        resolved = self._context.departments[key]
        if resolved is None:
            fail(
                "department",
                "several departments have this name: use its path, e.g. 'Sales/DE'",
                text,
            )
            return ""
        return resolved

    def _role(self, text: str, fail: _Fail) -> str:
        role_id = self._context.default_role
        if text:
            found = self._context.roles.get(text.removeprefix("roles/").casefold())
            if found is None:
                fail(
                    "role",
                    "unknown role (use a built-in id such as 'normal' or a role's name)",
                    text,
                )
                return ""
            role_id = found
        if role_id not in self._context.grantable_roles:
            fail("role", "you cannot grant this role: it has permissions you lack", text or role_id)
        return role_id
