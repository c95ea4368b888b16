"""Keyset pages of departments, groups and audit events walk every row once, in
order, when many rows share the first key (same sort order, same instant)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from identity.domain.model import AuditFilter, Department, Group
from services.identity.tests.conftest import Env

T = TypeVar("T")


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


async def walk(
    fetch: Callable[[list[str], int], Awaitable[list[T]]], keys: Callable[[T], list[str]]
) -> list[T]:
    """Every row, two at a time, each page after the last row of the one before."""
    seen: list[T] = []
    after: list[str] = []
    while True:
        page = await fetch(after, 2)
        seen += page
        if len(page) < 2:
            return seen
        after = keys(page[-1])


def ids(items: Sequence[_Identified]) -> list[str]:
    return [item.id for item in items]


async def test_departments_page_by_sort_order_then_id(env: Env) -> None:
    _, _, actor = await env.sign_up()
    for n in range(7):
        await env.app.departments.create(actor, Department("", "", f"Team {n}", sort_order=n % 2))
    everything = await env.app.departments.page(actor, None, after=[], limit=100)
    assert len(everything) == 7
    assert [(d.sort_order, d.id) for d in everything] == sorted(
        (d.sort_order, d.id) for d in everything
    )
    walked = await walk(
        lambda after, limit: env.app.departments.page(actor, None, after=after, limit=limit),
        lambda d: [str(d.sort_order), d.id],
    )
    assert ids(walked) == ids(everything)


async def test_groups_created_at_the_same_instant_page_by_id(env: Env) -> None:
    _, _, actor = await env.sign_up()
    for n in range(5):
        await env.app.groups.create(actor, Group("", "", f"Shift {n}"))
    everything = await env.app.groups.page(actor, kind=None, member_id="", after=[], limit=100)
    assert len(everything) == 5
    walked = await walk(
        lambda after, limit: env.app.groups.page(
            actor, kind=None, member_id="", after=after, limit=limit
        ),
        lambda g: [g.created_at.isoformat() if g.created_at else "", g.id],
    )
    assert ids(walked) == ids(everything)
    assert ids(everything) == sorted(ids(everything))  # one instant: by id


async def test_audit_events_page_newest_first(env: Env) -> None:
    _, _, actor = await env.sign_up()
    for n in range(3):
        await env.app.groups.create(actor, Group("", "", f"Crew {n}"))
        env.clock.advance(1)
        await env.app.departments.create(actor, Department("", "", f"Desk {n}"))
    everything = await env.app.audit.page(actor, AuditFilter(), after=[], limit=100)
    assert len(everything) >= 6
    walked = await walk(
        lambda after, limit: env.app.audit.page(actor, AuditFilter(), after=after, limit=limit),
        lambda e: [e.event_time.isoformat(), e.id],
    )
    assert ids(walked) == ids(everything)
    times = [e.event_time for e in everything]
    assert times == sorted(times, reverse=True)
