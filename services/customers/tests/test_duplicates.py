"""ListDuplicateSuggestions against a real database: shared emails and phones,
confidence, the reader's scope, one customer's duplicates, paging."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import resources_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.profiles import CustomerProfiles
from customers.bootstrap import compose_servicer
from customers.domain.model import Customer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-dup"


def caller(name: str, scope: DataScope) -> auth.Caller:
    return auth.Caller(
        tenant_id=TENANT,
        subject=f"members/{name}",
        permissions=frozenset(),
        data_scope=scope,
        department_id="",
        visible_departments=frozenset(),
        token="",
    )


ADMIN = caller("admin", DataScope.ALL)
ANNA = caller("anna", DataScope.OWN)


@contextmanager
def acting(who: auth.Caller) -> Iterator[None]:
    token = auth._current.set(who)
    try:
        yield
    finally:
        auth._current.reset(token)


Suggestion = tuple[tuple[str, ...], tuple[str, ...], float]


class World:
    def __init__(self, servicer: CustomersServicer, profiles: CustomerProfiles) -> None:
        self.rpc = servicer
        self.profiles = profiles
        self.names: dict[str, str] = {}

    async def customer(self, label: str, owner: str = "anna", **profile: object) -> str:
        created = await self.profiles.create(
            Customer(
                id="",
                tenant_id=TENANT,
                display_name=label,
                owner_member_id=owner,
                **profile,  # type: ignore[arg-type]
            )
        )
        self.names[f"customers/{created.id}"] = label
        return created.id

    async def page(
        self, who: auth.Caller = ADMIN, **request: object
    ) -> tuple[list[Suggestion], str]:
        with acting(who):
            found = await self.rpc.ListDuplicateSuggestions(
                pb.ListDuplicateSuggestionsRequest(**request),  # type: ignore[arg-type]
                None,
            )
        return [self.readable(s) for s in found.duplicate_suggestions], found.next_page_token

    async def suggestions(self, who: auth.Caller = ADMIN, **request: object) -> list[Suggestion]:
        return (await self.page(who, **request))[0]

    def readable(self, found: resources_pb2.DuplicateSuggestion) -> Suggestion:
        return (
            tuple(self.names[c] for c in found.customers),
            tuple(found.matched_fields),
            round(found.confidence, 2),
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "duplicates")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    sessions = session_factory(create_engine(url))

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(sessions, outbox)

    return World(
        compose_servicer(new_uow, PageTokenCodec(b"test-secret")), CustomerProfiles(new_uow)
    )


async def people(world: World) -> None:
    # Same email and phone, written differently: certain.
    await world.customer("A1", emails=("a@example.com",), phones=("+49 170 1234567",))
    await world.customer(
        "A2",
        emails=("A@Example.com",),
        phones=("+49-170-123 4567",),
        country="DE",
        language="de",
    )
    # Same email only.
    await world.customer("B1", emails=("b@example.com",))
    await world.customer("B2", owner="ben", emails=("B@example.com", "b2@example.com"))
    # Same phone only; too short a phone is no key.
    await world.customer("C1", phones=("030 1234567", "123"))
    await world.customer("C2", phones=("(030) 123-4567", "123"))
    await world.customer("Lonely", emails=("lonely@example.com",), phones=("+1 555 0100",))


async def test_suggestions_by_email_and_phone(world: World) -> None:
    await people(world)
    both = (("A2", "A1"), ("email", "phone"), 1.0)
    email = (("B2", "B1"), ("email",), 0.95)
    phone = (("C1", "C2"), ("phone",), 0.85)
    # Most complete first; the pair sharing both keys is suggested once.
    assert sorted(await world.suggestions()) == sorted([both, email, phone])
    assert sorted(await world.suggestions(min_confidence=0.9)) == sorted([both, email])
    assert await world.suggestions(min_confidence=1.0) == [both]
    with pytest.raises(InvalidArgument) as bad:
        await world.suggestions(min_confidence=1.5)
    assert [v.field for v in bad.value.violations] == ["min_confidence"]


async def test_scope_and_one_customers_duplicates(world: World) -> None:
    await people(world)
    # Anna does not see B2 (Ben's): B1 has no duplicate for her.
    assert sorted(s[0] for s in await world.suggestions(ANNA)) == [("A2", "A1"), ("C1", "C2")]
    b1 = next(k for k, v in world.names.items() if v == "B1")
    b2 = next(k for k, v in world.names.items() if v == "B2")
    assert await world.suggestions(customer=b1) == [(("B2", "B1"), ("email",), 0.95)]
    assert await world.suggestions(ANNA, customer=b1) == []
    with pytest.raises(NotFound):
        await world.suggestions(ANNA, customer=b2)
    lonely = next(k for k, v in world.names.items() if v == "Lonely")
    assert await world.suggestions(customer=lonely) == []


async def test_contact_keys_follow_updates_and_placeholders_are_ignored(world: World) -> None:
    first = await world.customer("D1", emails=("d@example.com",))
    await world.customer("D2", emails=("d@example.com",))
    assert len(await world.suggestions()) == 1
    await world.profiles.update(
        TENANT, Visibility(DataScope.ALL), first, {"emails": ("other@example.com",)}, ""
    )
    assert await world.suggestions() == []
    # A phone shared by more than 20 customers is a placeholder, not a person.
    for i in range(21):
        await world.customer(f"P{i}", phones=("000 000 000",))
    assert await world.suggestions() == []


async def test_pages_cover_every_suggestion_once(world: World) -> None:
    for i in range(5):
        await world.customer(f"E{i}a", emails=(f"e{i}@example.com",))
        await world.customer(f"E{i}b", emails=(f"E{i}@example.com",), country="DE")
    # E0c and F share a phone too: a sixth suggestion.
    await world.customer("E0c", emails=("e0@example.com",), phones=("+4930111222",))
    await world.customer("F", phones=("+4930111222",))
    everything = await world.suggestions(page_size=50)
    assert len(everything) == 6
    seen: list[Suggestion] = []
    token = ""
    pages = 0
    while True:
        page, token = await world.page(page_size=2, page_token=token)
        seen += page
        pages += 1
        if not token:
            break
    assert sorted(seen) == sorted(everything)
    assert pages in (3, 4)  # the last page may come out empty
    first_token = (await world.page(page_size=2))[1]
    with pytest.raises(InvalidArgument):
        await world.page(page_size=2, page_token=first_token, min_confidence=0.9)
