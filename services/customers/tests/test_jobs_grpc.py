"""StartBulkOperation, GetJob, ListJobs and CancelJob through the servicer (no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from crosstalk.common.v1 import condition_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import jobs_pb2, resources_pb2, tags_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.bulk_operations import BulkOperationHandler
from customers.app.jobs import JobRunner
from customers.bootstrap import compose_servicer
from customers.domain.jobs import JobKind

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
ADMIN = auth.Caller(
    tenant_id="tenant-jobs-grpc",
    subject="members/admin",
    permissions=frozenset(),
    data_scope=DataScope.ALL,
    department_id="",
    visible_departments=frozenset(),
    token="",
)
ANNA = replace(ADMIN, subject="members/anna", data_scope=DataScope.OWN)


class Stack:
    def __init__(self, servicer: CustomersServicer, runner: JobRunner) -> None:
        self.servicer = servicer
        self.runner = runner


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    url = service_database_urls(("customers",), tmp_path, "jobsgrpc")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    sessions = session_factory(engine)

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(sessions, outbox)

    servicer = compose_servicer(new_uow, PageTokenCodec(b"test-secret"))
    handlers = {JobKind.BULK_OPERATION: BulkOperationHandler(new_uow, batch_size=2)}
    yield Stack(servicer, JobRunner(new_uow, handlers))
    await engine.dispose()


@pytest.fixture
def as_admin() -> Iterator[None]:
    token = auth._current.set(ADMIN)
    yield
    auth._current.reset(token)


def as_caller(caller: auth.Caller) -> None:
    auth._current.set(caller)


async def customer(stack: Stack, name: str) -> str:
    created = await stack.servicer.CreateCustomer(
        pb.CreateCustomerRequest(customer=resources_pb2.Customer(display_name=name)), None
    )
    return created.name


def has_tag(tag: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(
            field="tags", operator=condition_pb2.OPERATOR_HAS_ANY_TAG, values=[tag]
        )
    )


@pytest.mark.usefixtures("as_admin")
async def test_bulk_tag_by_names_and_by_condition_with_progress(stack: Stack) -> None:
    servicer = stack.servicer
    vip = (
        await servicer.CreateTag(pb.CreateTagRequest(tag=tags_pb2.Tag(display_name="VIP")), None)
    ).name
    lead = (
        await servicer.CreateTag(pb.CreateTagRequest(tag=tags_pb2.Tag(display_name="Lead")), None)
    ).name
    names = [await customer(stack, f"C{i}") for i in range(3)]

    started = await servicer.StartBulkOperation(
        pb.StartBulkOperationRequest(
            customers=names, add_tags=pb.BulkTags(tags=[lead]), request_id="r-1"
        ),
        None,
    )
    assert started.state == jobs_pb2.JOB_STATE_PENDING
    assert started.kind == jobs_pb2.JOB_KIND_BULK_OPERATION
    assert started.description == "Add tag Lead to 3 customers"
    assert (started.creator, started.request_id) == ("members/admin", "r-1")
    again = await servicer.StartBulkOperation(
        pb.StartBulkOperationRequest(
            customers=names, add_tags=pb.BulkTags(tags=[lead]), request_id="r-1"
        ),
        None,
    )
    assert again.name == started.name
    await stack.runner.run_until_idle()
    done = await servicer.GetJob(pb.GetJobRequest(name=started.name), None)
    assert done.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert (done.total_count, done.processed_count, done.succeeded_count) == (3, 3, 3)
    assert done.HasField("start_time")
    assert done.HasField("end_time")

    by_filter = await servicer.StartBulkOperation(
        pb.StartBulkOperationRequest(condition=has_tag(lead), add_tags=pb.BulkTags(tags=[vip])),
        None,
    )
    assert by_filter.description == "Add tag VIP to 3 customers"
    await stack.runner.run_until_idle()
    for name in names:
        got = await servicer.GetCustomer(pb.GetCustomerRequest(name=name), None)
        assert set(got.tags) == {lead, vip}

    first = await servicer.ListJobs(pb.ListJobsRequest(page_size=1), None)
    assert [j.name for j in first.jobs] == [by_filter.name]
    second = await servicer.ListJobs(
        pb.ListJobsRequest(page_size=1, page_token=first.next_page_token), None
    )
    assert [j.name for j in second.jobs] == [started.name]
    assert second.next_page_token == ""
    running = await servicer.ListJobs(pb.ListJobsRequest(state=jobs_pb2.JOB_STATE_RUNNING), None)
    assert list(running.jobs) == []


@pytest.mark.usefixtures("as_admin")
async def test_missing_customers_are_failed_items(stack: Stack) -> None:
    names = [await customer(stack, "Anna")]
    job = await stack.servicer.StartBulkOperation(
        pb.StartBulkOperationRequest(
            customers=[*names, "customers/gone"],
            adjust_score=pb.BulkAdjustScore(delta=3, reason="campaign"),
        ),
        None,
    )
    await stack.runner.run_until_idle()
    done = await stack.servicer.GetJob(pb.GetJobRequest(name=job.name), None)
    assert (done.succeeded_count, done.failed_count) == (1, 1)
    assert [(e.customer, bool(e.message)) for e in done.errors] == [("customers/gone", True)]
    scored = await stack.servicer.GetCustomer(pb.GetCustomerRequest(name=names[0]), None)
    assert scored.score == 3


@pytest.mark.usefixtures("as_admin")
async def test_cancel_a_pending_job(stack: Stack) -> None:
    names = [await customer(stack, "Anna")]
    job = await stack.servicer.StartBulkOperation(
        pb.StartBulkOperationRequest(customers=names, blacklist=pb.BulkBlacklist(reason="spam")),
        None,
    )
    cancelled = await stack.servicer.CancelJob(pb.CancelJobRequest(name=job.name), None)
    assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
    assert await stack.runner.run_until_idle() == 0
    customer_pb = await stack.servicer.GetCustomer(pb.GetCustomerRequest(name=names[0]), None)
    assert not customer_pb.blacklisted


@pytest.mark.usefixtures("as_admin")
@pytest.mark.parametrize(
    ("request_pb", "fields"),
    [
        (pb.StartBulkOperationRequest(customers=["customers/a"]), ["operation"]),
        (
            pb.StartBulkOperationRequest(
                customers=["customers/a", "people/b"], blacklist=pb.BulkBlacklist(reason="x")
            ),
            ["customers[1]"],
        ),
        (
            pb.StartBulkOperationRequest(
                customers=["customers/a"],
                condition=has_tag("tags/x"),
                blacklist=pb.BulkBlacklist(reason="x"),
            ),
            ["customers"],
        ),
        (pb.StartBulkOperationRequest(blacklist=pb.BulkBlacklist(reason="x")), ["customers"]),
        (
            pb.StartBulkOperationRequest(
                customers=["customers/a"], add_tags=pb.BulkTags(tags=["vip"])
            ),
            ["add_tags.tags[0]"],
        ),
        (
            pb.StartBulkOperationRequest(
                customers=["customers/a"], assign_owner=pb.BulkAssignOwner(owner="anna")
            ),
            ["assign_owner.owner"],
        ),
        (
            pb.StartBulkOperationRequest(
                condition=condition_pb2.Condition(
                    leaf=condition_pb2.ConditionLeaf(
                        field="shoe_size", operator=condition_pb2.OPERATOR_EQUALS, values=["9"]
                    )
                ),
                blacklist=pb.BulkBlacklist(reason="x"),
            ),
            ["condition.leaf.field"],
        ),
    ],
)
async def test_bad_requests_name_the_field(
    stack: Stack, request_pb: pb.StartBulkOperationRequest, fields: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await stack.servicer.StartBulkOperation(request_pb, None)
    assert [v.field for v in bad.value.violations] == fields
    listed = await stack.servicer.ListJobs(pb.ListJobsRequest(), None)
    assert list(listed.jobs) == []


async def test_members_see_only_their_own_jobs(stack: Stack) -> None:
    token = auth._current.set(ADMIN)
    try:
        names = [await customer(stack, "Anna")]
        admins = await stack.servicer.StartBulkOperation(
            pb.StartBulkOperationRequest(customers=names, blacklist=pb.BulkBlacklist(reason="x")),
            None,
        )
        as_caller(ANNA)
        annas = await stack.servicer.StartBulkOperation(
            pb.StartBulkOperationRequest(customers=names, blacklist=pb.BulkBlacklist(reason="x")),
            None,
        )
        with pytest.raises(NotFound):
            await stack.servicer.GetJob(pb.GetJobRequest(name=admins.name), None)
        with pytest.raises(NotFound):
            await stack.servicer.CancelJob(pb.CancelJobRequest(name=admins.name), None)
        listed = await stack.servicer.ListJobs(pb.ListJobsRequest(), None)
        assert [j.name for j in listed.jobs] == [annas.name]
        with pytest.raises(InvalidArgument):
            await stack.servicer.GetJob(pb.GetJobRequest(name="operations/1"), None)
        as_caller(ADMIN)
        everything = await stack.servicer.ListJobs(pb.ListJobsRequest(), None)
        assert [j.name for j in everything.jobs] == [annas.name, admins.name]
    finally:
        auth._current.reset(token)
