"""The audit log: written with every admin action, filtered, paged, fed by events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import new_envelope, read_event
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.db.engine import session_factory
from identity.adapters.consumers import CUSTOMER_ADMIN_EVENTS, on_customer_admin_event
from identity.adapters.tables import outbox
from identity.adapters.unit_of_work import IdentityUnitOfWork
from identity.domain.model import AuditFilter, Department, Group
from services.identity.tests.conftest import Env, FakeClock
from services.identity.tests.test_members import draft


async def test_admin_actions_are_recorded_with_before_and_after(env: Env, clock: FakeClock) -> None:
    _, admin, actor = await env.sign_up()
    start = clock.now
    clock.advance(1)
    member = await env.app.members.create(actor, draft())
    clock.advance(1)
    department = await env.app.departments.create(actor, Department("", "", "Support"))
    clock.advance(1)
    await env.app.groups.create(actor, Group("", "", "Escalations"))
    clock.advance(1)
    key, secret = await env.app.api_keys.create(actor, "Zapier", "normal", None)
    clock.advance(1)
    await env.app.members.update(
        actor, member.id, draft(department_id=department.id), ["department"], ""
    )
    clock.advance(1)
    await env.app.api_keys.revoke(actor, key.id)

    everything = await env.app.audit.page(actor, AuditFilter(), after=[], limit=50)
    assert [e.action for e in everything] == [
        "api_keys.revoke",
        "members.update",
        "api_keys.create",
        "groups.create",
        "departments.create",
        "members.create",
        "tenants.sign_up",
    ]
    assert all(e.actor == f"members/{admin.id}" for e in everything)
    assert secret not in str([(e.before, e.after) for e in everything])
    update = everything[1]
    assert update.before is not None
    assert update.before["department"] == ""
    assert update.after is not None
    assert update.after["department"] == f"departments/{department.id}"

    members_only = await env.app.audit.page(
        actor, AuditFilter(action="members.*"), after=[], limit=50
    )
    assert [e.action for e in members_only] == ["members.update", "members.create"]
    one_target = await env.app.audit.page(
        actor, AuditFilter(target=f"apiKeys/{key.id}"), after=[], limit=50
    )
    assert len(one_target) == 2
    window = await env.app.audit.page(
        actor,
        AuditFilter(start_time=start + timedelta(seconds=2), end_time=start + timedelta(seconds=4)),
        after=[],
        limit=50,
    )
    assert [e.action for e in window] == ["groups.create", "departments.create"]

    first = await env.app.audit.page(actor, AuditFilter(), after=[], limit=3)
    rest = await env.app.audit.page(
        actor, AuditFilter(), after=[first[-1].event_time.isoformat(), first[-1].id], limit=50
    )
    assert [e.id for e in first + rest] == [e.id for e in everything]


async def test_customer_admin_events_are_recorded(env: Env) -> None:
    tenant, _, actor = await env.sign_up()
    assert set(CUSTOMER_ADMIN_EVENTS.event_types) == {"customer.merged", "customer.blacklisted"}
    handler = in_unit_of_work(IdentityUnitOfWork, outbox, on_customer_admin_event)
    occurred = datetime.now(UTC)
    merged = customer_events_pb2.CustomerMerged(
        customer="customers/keep", merged_customers=["customers/gone"], actor="members/m1"
    )
    blacklisted = customer_events_pb2.CustomerBlacklisted(customer="customers/spam", reason="spam")
    async with session_factory(env.engine)() as session, session.begin():
        for payload in (merged, blacklisted):
            _, envelope = new_envelope(tenant.id, payload, occurred_at=occurred, trace_context={})
            await handler(session, read_event(envelope.SerializeToString()))
    found = await env.app.audit.page(actor, AuditFilter(action="customers.*"), after=[], limit=10)
    by_action = {e.action: e for e in found}
    assert by_action["customers.merge"].actor == "members/m1"
    assert by_action["customers.merge"].target == "customers/keep"
    assert by_action["customers.merge"].after == {"merged_customers": ["customers/gone"]}
    assert by_action["customers.blacklist"].actor == "system"
