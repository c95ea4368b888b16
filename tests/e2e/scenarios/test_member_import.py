"""The Excel member import with bad rows, from /work/shared/seeds/000_318f622f2e041d0e.txt
(HelloGPT 企业版, 成员管理与团队结构配置): "手动添加:输入成员邮箱、姓名及所属部门。
批量导入:通过 Excel 表格上传,实现快速批量创建", with the three permission levels
"高级权限 ... 普通权限 ... 限制权限" given per member.

So: a spreadsheet with Chinese headers (邮箱, 姓名, 部门, 角色) holding good rows and
bad ones (a broken e-mail, a duplicate, an unknown department, an unknown role, a
missing name) is previewed with every problem named by row and column; committing
it whole is refused with nothing written; committing the valid rows creates exactly
those members, in their departments with their roles; a retry creates nothing more.
"""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import ok, sign_up
from tests.e2e.scenarios.steps import field_violations

pytestmark = pytest.mark.e2e


def _workbook(rows: list[list[str]]) -> str:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "成员"
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def test_an_excel_sheet_with_bad_rows_imports_only_its_good_rows(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        admin = sign_up(http, "Import Trading Co")
        sales = ok(
            http.post("/v1/departments", headers=admin.headers, json={"displayName": "销售组"})
        )
        ok(http.post("/v1/departments", headers=admin.headers, json={"displayName": "客服组"}))
        tag = uuid.uuid4().hex[:6]
        good_sales = f"zhang.san-{tag}@acme.test"
        good_support = f"li.si-{tag}@acme.test"
        content = _workbook(
            [
                ["邮箱", "姓名", "部门", "角色", "手机"],
                [good_sales, "张三", "销售组", "senior", "+8613800138000"],  # row 2
                ["not-an-email", "王五", "销售组", "normal", ""],  # row 3
                [good_sales.upper(), "张三 again", "销售组", "normal", ""],  # row 4
                [f"zhao.liu-{tag}@acme.test", "赵六", "市场组", "normal", ""],  # row 5
                [f"sun.qi-{tag}@acme.test", "孙七", "客服组", "superhero", ""],  # row 6
                [good_support, "李四", "客服组", "restricted", ""],  # row 7
                [f"noname-{tag}@acme.test", "", "客服组", "normal", ""],  # row 8
            ]
        )
        file = {"content": content, "format": "FILE_FORMAT_XLSX"}

        preview = ok(http.post("/v1/members:previewImport", headers=admin.headers, json=file))
        assert preview["totalRows"] == 7
        assert preview["validRows"] == 2
        problems = {(e["row"], e["column"]) for e in preview["rowErrors"]}
        assert problems == {(3, "邮箱"), (4, "邮箱"), (5, "部门"), (6, "角色"), (8, "姓名")}, (
            preview
        )
        by_row = {e["row"]: e for e in preview["rowErrors"]}
        assert by_row[4]["message"].startswith("duplicate of row 2"), by_row[4]
        assert by_row[5]["value"] == "市场组"
        previewed = {r["row"]: r["member"] for r in preview["rows"]}
        assert previewed[2]["department"] == sales["name"]

        def members() -> dict[str, dict[str, Any]]:
            listed = ok(http.get("/v1/members", headers=admin.headers, params={"pageSize": 100}))
            return {m["email"]: m for m in listed["members"]}

        before = members()
        refused = http.post("/v1/members:commitImport", headers=admin.headers, json=file)
        assert field_violations(refused) == ["content"] * 5
        assert "nothing was imported" in refused.json()["message"]
        assert members() == before

        request = {**file, "skipInvalidRows": True, "requestId": str(uuid.uuid4())}
        committed = ok(http.post("/v1/members:commitImport", headers=admin.headers, json=request))
        assert committed["createdCount"] == 2
        assert committed["skippedCount"] == 5
        assert {e["row"] for e in committed["rowErrors"]} == {3, 4, 5, 6, 8}
        after = members()
        assert set(after) - set(before) == {good_sales, good_support}
        assert after[good_sales]["displayName"] == "张三"
        assert after[good_sales]["department"] == sales["name"]
        assert after[good_sales]["role"] == "roles/senior"
        assert after[good_support]["role"] == "roles/restricted"

        again = ok(http.post("/v1/members:commitImport", headers=admin.headers, json=request))
        assert again["createdCount"] == 2  # the first result, nothing created twice
        assert members() == after
