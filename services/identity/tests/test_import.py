"""Member import from csv and xlsx: preview reports, commit writes the valid rows."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable

import pytest
from openpyxl import Workbook

from crosstalk_common.errors import InvalidArgument
from crosstalk_common.permissions import DataScope
from identity.adapters import member_files
from identity.app.context import Actor
from identity.app.ports import MemberFilter
from identity.domain.model import AuditFilter, Department, Role
from services.identity.tests.conftest import Env


def rows_for(tag: str, existing_email: str) -> list[list[object]]:
    return [
        ["Email", "Name", "Phone", "Department", "Role", "Languages"],
        [f"ana-{tag}@example.com", "Ana", "+49 30 1234", "Sales/DE", "normal", "de, en"],
        ["not-an-email", "Bad Email", "", "", "", ""],  # row 3
        [f"bo-{tag}@example.com", "Bo", 8613800000000, "Nowhere", "normal", "zh"],  # row 4
        [f"cy-{tag}@example.com", "Cy", "", "DE", "Wizard", ""],  # row 5
        [f"ANA-{tag}@example.com", "Ana again", "", "", "", ""],  # row 6: duplicate
        [existing_email, "Existing", "", "", "", ""],  # row 7: already a member
        [f"di-{tag}@example.com", "Di", "", "", "Exporters", "en;fr"],  # row 8: custom role
        [],  # blank row 9 is skipped
        [f"ed-{tag}@example.com", "Ed", "", "Sales", "senior", "klingon!"],  # row 10
    ]


def as_csv(rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    for row in rows:
        out.write(",".join(f'"{c}"' for c in row) + "\n")
    return out.getvalue().encode()


def as_xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _tenant(env: Env) -> tuple[Actor, str]:
    _, admin, actor = await env.sign_up()
    sales = await env.app.departments.create(actor, Department("", "", "Sales"))
    await env.app.departments.create(actor, Department("", "", "DE", parent_id=sales.id))
    await env.app.roles.create(
        actor, Role("", "", "Exporters", frozenset({"customers.export"}), DataScope.OWN), []
    )
    return actor, admin.email


@pytest.mark.parametrize(("file_format", "encode"), [("csv", as_csv), ("xlsx", as_xlsx)])
async def test_preview_reports_each_bad_row_and_commit_writes_only_good_ones(
    env: Env, file_format: str, encode: Callable[[list[list[object]]], bytes]
) -> None:
    actor, admin_email = await _tenant(env)
    tag = uuid.uuid4().hex[:8]
    content = encode(rows_for(tag, admin_email))
    plan = await env.app.imports.preview(actor, content, file_format, [])
    assert plan.total_rows == 8
    problems = {(e.row, e.column) for e in plan.errors}
    assert problems == {
        (3, "Email"),
        (4, "Department"),
        (5, "Role"),
        (6, "Email"),
        (7, "Email"),
        (10, "Languages"),
    }
    by_row = {e.row: e.message for e in plan.errors}
    assert "duplicate of row 2" in by_row[6]
    assert "already" in by_row[7]
    assert [m.row for m in plan.members] == [2, 8]
    ana = plan.members[0]
    assert ana.languages == ("de", "en")
    assert ana.department_id
    assert ana.role == "normal"
    # preview wrote nothing
    assert (
        await env.app.members.page(
            actor, MemberFilter(query=tag), include_sub_departments=False, after=[], limit=50
        )
        == []
    )

    with pytest.raises(InvalidArgument) as caught:
        await env.app.imports.commit(
            actor, content, file_format, [], skip_invalid_rows=False, update_existing=False
        )
    assert caught.value.reason == "IMPORT_HAS_INVALID_ROWS"
    assert "row 3, column 'Email'" in caught.value.violations[0].description

    result = await env.app.imports.commit(
        actor, content, file_format, [], skip_invalid_rows=True, update_existing=False
    )
    assert (result.created, result.updated, result.skipped) == (2, 0, 6)
    imported = await env.app.members.page(
        actor, MemberFilter(query=tag), include_sub_departments=False, after=[], limit=50
    )
    assert sorted(m.email for m in imported) == [f"ana-{tag}@example.com", f"di-{tag}@example.com"]
    assert all(not m.has_password for m in imported)
    created_events = [
        e
        for e in await env.events(actor.tenant_id, "member.created")
        if tag.encode() in e.payload.value
    ]
    assert len(created_events) == 2
    audit = await env.app.audit.page(actor, AuditFilter(action="members.*"), after=[], limit=50)
    assert [e.action for e in audit].count("members.import") == 1
    assert [e.action for e in audit].count("members.create") == 2


async def test_commit_is_idempotent_and_can_update_existing(env: Env) -> None:
    actor, _ = await _tenant(env)
    tag = uuid.uuid4().hex[:8]
    first = as_csv([["email", "name"], [f"x-{tag}@example.com", "X"]])
    request_id = str(uuid.uuid4())
    for _ in range(2):
        result = await env.app.imports.commit(
            actor,
            first,
            "csv",
            [],
            skip_invalid_rows=False,
            update_existing=False,
            request_id=request_id,
        )
        assert result.created == 1
    again = as_csv([["email", "name", "role"], [f"x-{tag}@example.com", "X Renamed", "senior"]])
    result = await env.app.imports.commit(
        actor, again, "csv", [], skip_invalid_rows=False, update_existing=True
    )
    assert (result.created, result.updated) == (0, 1)
    (member,) = await env.app.members.page(
        actor, MemberFilter(query=tag), include_sub_departments=False, after=[], limit=5
    )
    assert (member.display_name, member.role) == ("X Renamed", "senior")


async def test_unreadable_files_and_missing_columns_are_invalid_arguments(env: Env) -> None:
    actor, _ = await _tenant(env)
    with pytest.raises(InvalidArgument) as caught:
        await env.app.imports.preview(actor, b"PK\x03\x04 not really", "xlsx", [])
    assert caught.value.violations[0].field == "content"
    with pytest.raises(InvalidArgument) as caught:
        await env.app.imports.preview(actor, b"name,phone\nA,1\n", "csv", [])
    assert "'email' column" in caught.value.violations[0].description
    mapped = await env.app.imports.preview(
        actor,
        f"邮件;名字\nzh-{uuid.uuid4().hex[:6]}@example.com;张三\n".encode(),
        "csv",
        [("邮件", "email"), ("名字", "display_name")],
    )
    assert mapped.errors == []
    assert mapped.members[0].display_name == "张三"


async def test_a_workbook_that_unpacks_to_too_much_is_refused(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb: a part of repeated text deflates a thousandfold, and openpyxl
    would hold all its shared strings in memory."""
    actor, _ = await _tenant(env)
    monkeypatch.setattr(member_files, "MAX_UNPACKED_BYTES", 1024 * 1024)
    plain = as_xlsx([["email", "display_name"], ["bomb@example.com", "Bomb"]])
    source = zipfile.ZipFile(io.BytesIO(plain))
    bombed = io.BytesIO()
    with zipfile.ZipFile(bombed, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            archive.writestr(name, source.read(name))
        archive.writestr("xl/padding.xml", "<x>" + "A" * 2_000_000 + "</x>")
    assert len(bombed.getvalue()) < 30_000
    with pytest.raises(InvalidArgument) as caught:
        await env.app.imports.preview(actor, bombed.getvalue(), "xlsx", [])
    assert caught.value.violations[0].field == "content"
    assert "unpacks to more than" in caught.value.violations[0].description
    assert (await env.app.imports.preview(actor, plain, "xlsx", [])).errors == []
