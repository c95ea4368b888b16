"""Pages of large intent keyword sets are cut by weight, so they fit the gateway's buffer."""

from __future__ import annotations

from crosstalk.translation.v1 import resources_pb2
from crosstalk.translation.v1 import translation_service_pb2 as pb
from crosstalk_common.api.pagination import PAGE_BYTES_BUDGET

from .test_grpc import auth, stub  # noqa: F401  (the served stack)

SETS = 120


def full_set(n: int) -> resources_pb2.IntentKeywordSet:
    """The largest set allowed: 200 words of 100 characters (about 20 KB)."""
    words = [f"w{n:03d}{i:03d}" + "k" * 93 for i in range(200)]
    return resources_pb2.IntentKeywordSet(
        intent=f"intent_{n:03d}", language="en", keywords=words, enabled=True
    )


async def test_a_page_of_full_keyword_sets_stays_within_the_budget(stub, tenant) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    metadata = auth(tenant)
    created = set()
    for n in range(SETS):
        made = await stub.CreateIntentKeywordSet(
            pb.CreateIntentKeywordSetRequest(intent_keyword_set=full_set(n)), metadata=metadata
        )
        created.add(made.name)
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page = await stub.ListIntentKeywordSets(
            pb.ListIntentKeywordSetsRequest(page_size=200, page_token=token), metadata=metadata
        )
        pages += 1
        assert page.ByteSize() <= PAGE_BYTES_BUDGET + 64 * 1024
        seen += [s.name for s in page.intent_keyword_sets]
        token = page.next_page_token
        if not token:
            break
    # 120 sets of ~20 KB (and the tenant's built-in ones) are ~2.4 MB: more than
    # one page, none lost or repeated.
    assert pages >= 2
    assert len(seen) == len(set(seen))
    assert created <= set(seen)
