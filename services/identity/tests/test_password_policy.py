"""The password policy (issue 12, item 7): the rules, and every place a password is set."""

from __future__ import annotations

import uuid

import pytest

from crosstalk_common.errors import InvalidArgument
from crosstalk_devstack.demo import DEMO_EMAIL, DEMO_PASSWORD
from identity.domain.model import SignUp
from identity.domain.passwords import MIN_PASSWORD_LENGTH, common_passwords, password_problem
from services.identity.tests.conftest import PASSWORD, Env
from services.identity.tests.test_members import draft

EMAIL = "mei.chen@example.com"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("", "must not be empty"),
        (" " * 12, "only spaces"),
        ("\t \n" * 6, "only spaces"),
        ("1234567890", "at least 12 characters"),
        ("aaaaaaaaaa", "at least 12 characters"),
        ("a b  c   d    e     f", "at least 12 characters"),  # runs of spaces count as one
        ("x" * 257, "at most 256"),
        ("password1234", "most common"),
        ("Qwerty123456", "most common"),  # compared in lower case
        ("1234567890aa", "most common"),
        ("iloveyou1234", "most common"),
        ("1q2w3e4r5t6y", "most common"),
        ("aaaaaaaaaaaa", "most common"),
        ("ééééééééééééé", "repeated or straight"),
        ("^^^^^^^^^^^^^^^^", "repeated or straight"),
        ("wxyzwxyzwxyzwxyz", "repeated or straight"),
        ("xy7!xy7!xy7!", "repeated or straight"),
        ("234567890123", "repeated or straight"),
        ("mnopqrstuvwx", "repeated or straight"),
        ("8765432109876", "repeated or straight"),
        ("mei.chen@example.com", "email"),
        ("MEI.CHEN@example.com!", "email"),
        ("my mei.chen secret", "email"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    problem = password_problem(password, min_length=MIN_PASSWORD_LENGTH, email=EMAIL)
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize(
    "password",
    [
        PASSWORD,
        "tea kettle on the moon",
        "明天去上海开会的时候带伞",  # any script, no composition rules
        "xy7!xy7!xy7?",
        "mei likes dumplings",  # a 3-letter name part is too short to refuse
    ],
)
def test_ordinary_passphrases_are_accepted(password: str) -> None:
    assert password_problem(password, min_length=MIN_PASSWORD_LENGTH, email=EMAIL) is None
    assert password_problem(password, min_length=MIN_PASSWORD_LENGTH, email="mei@x.io") is None


def test_the_dev_stacks_demo_login_passes_the_policy() -> None:
    assert password_problem(DEMO_PASSWORD, min_length=MIN_PASSWORD_LENGTH, email=DEMO_EMAIL) is None
    # the one it replaced contained the email's name part ("demo")
    assert "email" in (
        password_problem("crosstalk-demo-2026", min_length=MIN_PASSWORD_LENGTH, email=DEMO_EMAIL)
        or ""
    )


def test_a_tenant_may_ask_for_more_but_never_less_than_the_floor() -> None:
    assert password_problem("tea kettle on", min_length=16) is not None
    assert "at least 16" in (password_problem("tea kettle on", min_length=16) or "")
    assert "at least 12" in (password_problem("tea kettle", min_length=8) or "")


def test_the_shipped_list_is_lower_case_and_of_a_useful_size() -> None:
    listed = common_passwords()
    assert len(listed) > 3000
    assert all(p == p.lower() and len(p) >= MIN_PASSWORD_LENGTH for p in listed)
    assert {"password1234", "qwerty123456", "iloveyou1234"} <= listed


def _field_and_reason(caught: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {v.field: v.description for v in caught.value.violations}


async def test_sign_up_refuses_a_weak_admin_password(env: Env) -> None:
    email = f"ana-{uuid.uuid4().hex[:8]}@example.com"
    for weak, why in (("password1234", "most common"), (" " * 12, "only spaces"), (email, "email")):
        with pytest.raises(InvalidArgument) as caught:
            await env.app.tenants.sign_up(SignUp("Acme", "", 1, "en", email, "Ana", weak))
        assert why in _field_and_reason(caught)["admin_password"]


async def test_create_member_and_set_password_refuse_weak_passwords(env: Env) -> None:
    _, _, actor = await env.sign_up()
    email = f"mei-{uuid.uuid4().hex[:8]}@example.com"
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.create(actor, draft(email=email), initial_password="qwerty123456")
    assert "most common" in _field_and_reason(caught)["initial_password"]
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.create(actor, draft(email=email), initial_password=email + "1")
    assert "email" in _field_and_reason(caught)["initial_password"]

    member = await env.app.members.create(actor, draft(email=email), initial_password=PASSWORD)
    for weak, why in (
        ("k" * 30, "repeated"),
        ("1234567890", "at least 12"),
        (email.split("@")[0] + "!!", "email"),
    ):
        with pytest.raises(InvalidArgument) as caught:
            await env.app.members.set_password(actor, member.id, weak)
        assert why in _field_and_reason(caught)["password"]
    assert (await env.app.members.set_password(actor, member.id, "tea kettle on the moon")).id


async def test_tenant_settings_cannot_lower_the_minimum_below_the_floor(env: Env) -> None:
    tenant, _, actor = await env.sign_up()
    current = await env.app.tenants.get_settings(actor, tenant.id)
    assert current.min_password_length >= MIN_PASSWORD_LENGTH
    with pytest.raises(InvalidArgument) as caught:
        await env.app.tenants.update_settings(
            actor, tenant.id, {"min_password_length": 10}, current.etag
        )
    assert "between 12 and 128" in _field_and_reason(caught)["tenant_settings.min_password_length"]
