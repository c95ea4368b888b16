from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.api.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageTokenCodec,
    coerce_page_size,
    request_hash,
)
from crosstalk_common.errors import InvalidArgument


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def codec(clock: FakeClock) -> PageTokenCodec:
    return PageTokenCodec(b"test-secret", ttl=timedelta(hours=1), clock=clock)


def rejected(codec: PageTokenCodec, token: str, hash_: str, **kwargs: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        codec.decode(token, hash_, **kwargs)
    [violation] = caught.value.violations
    assert violation.field == kwargs.get("field", "page_token")
    return violation.description


@pytest.mark.parametrize(
    ("asked", "served"),
    [(0, DEFAULT_PAGE_SIZE), (1, 1), (50, 50), (MAX_PAGE_SIZE, MAX_PAGE_SIZE),
     (MAX_PAGE_SIZE + 1, MAX_PAGE_SIZE), (10**9, MAX_PAGE_SIZE)],
)  # fmt: skip
def test_page_sizes_are_defaulted_and_capped(asked: int, served: int) -> None:
    assert coerce_page_size(asked) == served


def test_page_size_options_and_negative_sizes() -> None:
    assert coerce_page_size(0, default=10, maximum=20) == 10
    assert coerce_page_size(30, default=10, maximum=20) == 20
    with pytest.raises(InvalidArgument) as caught:
        coerce_page_size(-1, field="request.page_size")
    assert caught.value.violations[0].field == "request.page_size"
    assert "-1" in caught.value.violations[0].description


def test_round_trip(codec: PageTokenCodec) -> None:
    token = codec.encode(["2024-05-01T00:00:00Z", "customers/42"], "h1")
    assert codec.decode(token, "h1") == ["2024-05-01T00:00:00Z", "customers/42"]
    assert codec.decode("", "h1") == []
    assert "=" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "customers/42" not in token


def test_tampered_and_garbage_tokens_are_rejected(codec: PageTokenCodec) -> None:
    token = codec.encode(["customers/42"], "h1")
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-3] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert "not a page token" in rejected(codec, tampered, "h1")
    for garbage in ("x", "not a token!", token[:-4], token + "AAAA", "====", "%%%"):
        rejected(codec, garbage, "h1")
    other_secret = PageTokenCodec(b"another-secret")
    rejected(other_secret, token, "h1")


def test_tokens_expire(codec: PageTokenCodec, clock: FakeClock) -> None:
    token = codec.encode(["k"], "h1")
    clock.now += timedelta(minutes=59)
    assert codec.decode(token, "h1") == ["k"]
    clock.now += timedelta(minutes=1)
    assert "expired" in rejected(codec, token, "h1")


def test_tokens_belong_to_their_request(codec: PageTokenCodec) -> None:
    token = codec.encode(["k"], request_hash("filter-a", 50))
    assert "other parameters" in rejected(codec, token, request_hash("filter-b", 50))
    assert codec.decode(token, request_hash("filter-a", 50)) == ["k"]


def test_custom_field_name_in_violations(codec: PageTokenCodec) -> None:
    rejected(codec, "junk", "h", field="list_request.page_token")


def test_codec_needs_a_secret_and_a_positive_ttl() -> None:
    with pytest.raises(ValueError, match="secret"):
        PageTokenCodec(b"")
    with pytest.raises(ValueError, match="ttl"):
        PageTokenCodec(b"s", ttl=timedelta(0))


def test_request_hash_is_stable_and_discriminating() -> None:
    cond = condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(
            field="tier", operator=condition_pb2.OPERATOR_IN, values=["gold", "vip"]
        )
    )
    same = condition_pb2.Condition()
    same.CopyFrom(cond)
    assert request_hash(cond, "name asc") == request_hash(same, "name asc")
    assert request_hash(cond, "name asc") != request_hash(cond, "name desc")
    assert request_hash({"b": 1, "a": [1, 2]}) == request_hash({"a": [1, 2], "b": 1})
    # Boundaries and types matter: no two different inputs share an encoding.
    assert request_hash("ab", "c") != request_hash("a", "bc")
    assert request_hash(1) != request_hash("1") != request_hash(True)
    assert request_hash(None) != request_hash("")
    assert len(request_hash("x")) == 32
    # Known value: the hash must not change between processes or releases.
    assert request_hash("tenant-1", 50) == "c55714d5286ed5893a1c117513961a5e"
    with pytest.raises(TypeError):
        request_hash(object())


def test_next_page_cuts_the_extra_row_and_signs_the_last_key() -> None:
    codec = PageTokenCodec(b"k" * 32)
    rows = [(f"2026-01-0{n}", f"id-{n}") for n in range(1, 5)]
    page, token = codec.next_page(rows, 3, "scope", lambda row: list(row))
    assert page == rows[:3]
    assert codec.decode(token, "scope") == ["2026-01-03", "id-3"]
    last, none = codec.next_page(rows[:2], 3, "scope", lambda row: list(row))
    assert (last, none) == (rows[:2], "")


def test_a_token_is_only_good_for_the_caller_it_was_issued_to(clock: FakeClock) -> None:
    holder = ["tenant-a/members/1"]
    codec = PageTokenCodec(b"test-secret", clock=clock, holder=lambda: holder[0])
    scope = request_hash("customers", 50)
    token = codec.encode(["k"], scope)
    holder[0] = "tenant-b/members/1"
    message = rejected(codec, token, scope)
    assert "not issued to this caller" in message
    assert "other parameters" not in message
    holder[0] = "tenant-a/members/2"
    assert "not issued to this caller" in rejected(codec, token, scope)
    holder[0] = "tenant-a/members/1"
    assert codec.decode(token, scope) == ["k"]
    # The same holder with other parameters hears about the parameters.
    assert "other parameters" in rejected(codec, token, request_hash("customers", 20))
    # Neither the tenant nor the principal can be read from the token.
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"tenant-a" not in raw
    assert b"members/1" not in raw


def test_a_page_of_heavy_items_is_cut_by_weight_and_continues_after_it() -> None:
    codec = PageTokenCodec(b"k" * 32)
    rows = [(f"2026-01-0{n}", "x" * 400) for n in range(1, 7)]
    weigh = lambda row: len(row[1])  # noqa: E731
    page, token = codec.next_page(rows, 5, "scope", lambda row: [row[0]], weigh=weigh, budget=1000)
    assert page == rows[:2]
    assert codec.decode(token, "scope") == ["2026-01-02"]
    # One item over the budget is still served: a page is never empty.
    alone, after = codec.next_page(rows, 5, "scope", lambda row: [row[0]], weigh=weigh, budget=10)
    assert alone == rows[:1]
    assert codec.decode(after, "scope") == ["2026-01-01"]
    # Light enough: the usual cut by count, and no token on the last page.
    light, last = codec.next_page(rows[:3], 5, "scope", lambda row: [row[0]], weigh=weigh)
    assert (light, last) == (rows[:3], "")


class _Request:
    def __init__(self, page_size: int = 0, page_token: str = "") -> None:
        self.page_size = page_size
        self.page_token = page_token


def test_a_list_window_walks_every_page_once(codec: PageTokenCodec) -> None:
    rows = [f"id-{n:02}" for n in range(7)]

    def list_rows(request: _Request) -> tuple[list[str], str]:
        window = codec.window(request, "tenant-1", "rows", maximum=3)
        fetched = [r for r in rows if not window.after or r > window.after[0]][: window.limit]
        return window.cut(fetched, lambda row: [row])

    served: list[str] = []
    request = _Request(page_size=10)
    while True:
        page, token = list_rows(request)
        assert len(page) <= 3
        served += page
        if not token:
            break
        request = _Request(page_size=10, page_token=token)
    assert served == rows


def test_a_list_window_defaults_caps_and_binds_its_token(codec: PageTokenCodec) -> None:
    first = codec.window(_Request(), "tenant-1", "rows")
    assert (first.size, first.limit, first.after) == (DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE + 1, [])
    assert first.request_hash == request_hash("tenant-1", "rows")
    assert codec.window(_Request(10**6), "x", default=5, maximum=20).size == 20
    assert codec.window(_Request(0), "x", default=5, maximum=20).size == 5
    token = first.token_after(["k"])
    assert codec.window(_Request(page_token=token), "tenant-1", "rows").after == ["k"]
    with pytest.raises(InvalidArgument) as caught:
        codec.window(_Request(page_token=token), "tenant-1", "other rows")
    assert caught.value.violations[0].field == "page_token"
    assert "other parameters" in caught.value.violations[0].description
    with pytest.raises(InvalidArgument) as caught:
        codec.window(_Request(page_size=-2), "tenant-1", "rows")
    assert caught.value.violations[0].field == "page_size"
