"""Property-based tests (hypothesis) of page tokens and resource names (issue 19).

Page tokens: whatever keyset position and request a token carries, decoding
it gives the position back; any change to the token's bytes, another holder,
other request parameters or the end of its lifetime is refused with
INVALID_ARGUMENT on the field it came in. Resource names: a name built from a
pattern and ids reads back into those ids, and a name that differs from the
pattern anywhere is refused naming its field.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crosstalk_common.api.pagination import PageTokenCodec, request_hash
from crosstalk_common.api.resource_names import (
    resource_id,
    resource_ids,
    resource_ids_of,
)
from crosstalk_common.errors import InvalidArgument

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

keys = st.lists(st.text(max_size=40), max_size=6)
holders = st.text(min_size=1, max_size=40)
secrets = st.binary(min_size=1, max_size=64)
request_parts = st.lists(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=20),
        st.lists(st.text(max_size=5), max_size=3),
    ),
    max_size=4,
)


def codec(secret: bytes, holder: str, clock: datetime = NOW) -> PageTokenCodec:
    return PageTokenCodec(secret, clock=lambda: clock, holder=lambda: holder)


def refused(action: Callable[[], object], field: str = "page_token") -> str:
    with pytest.raises(InvalidArgument) as error:
        action()
    assert [v.field for v in error.value.violations] == [field]
    return error.value.violations[0].description


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@BOUNDED
@given(secret=secrets, holder=holders, last=keys, parts=request_parts)
def test_a_token_decodes_to_the_position_it_was_made_from(
    secret: bytes, holder: str, last: list[str], parts: list[object]
) -> None:
    scope = request_hash(*parts)
    issued = codec(secret, holder)
    token = issued.encode(last, scope)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # URL-safe, no padding
    # Another replica with the same secret reads it, until just before it expires.
    later = codec(secret, holder, NOW + timedelta(hours=24) - timedelta(seconds=1))
    assert later.decode(token, scope) == last
    assert issued.decode("", scope) == []


@BOUNDED
@given(
    secret=secrets,
    holder=holders,
    last=keys,
    data=st.data(),
)
def test_any_change_to_a_token_is_refused(
    secret: bytes, holder: str, last: list[str], data: st.DataObject
) -> None:
    scope = request_hash("filter")
    issuer = codec(secret, holder)
    raw = _raw(issuer.encode(last, scope))
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "text"]))
    if kind == "flip":
        at = data.draw(st.integers(0, len(raw) - 1))
        bit = data.draw(st.integers(0, 7))
        tampered = _token(raw[:at] + bytes([raw[at] ^ (1 << bit)]) + raw[at + 1 :])
    elif kind == "truncate":
        tampered = _token(raw[: data.draw(st.integers(0, len(raw) - 1))])
    elif kind == "extend":
        tampered = _token(raw + data.draw(st.binary(min_size=1, max_size=8)))
    else:
        tampered = data.draw(st.text(min_size=1, max_size=80))
    assume(tampered and tampered != _token(raw))
    message = refused(lambda: issuer.decode(tampered, scope))
    assert "not a page token issued by this service" in message


@BOUNDED
@given(secret=secrets, other_secret=secrets, holder=holders, last=keys)
def test_a_token_signed_with_another_secret_is_refused(
    secret: bytes, other_secret: bytes, holder: str, last: list[str]
) -> None:
    assume(secret != other_secret)
    scope = request_hash("filter")
    token = codec(other_secret, holder).encode(last, scope)
    refused(lambda: codec(secret, holder).decode(token, scope))


@BOUNDED
@given(secret=secrets, holder=holders, other=holders, last=keys)
def test_another_holder_is_refused(secret: bytes, holder: str, other: str, last: list[str]) -> None:
    assume(holder != other)
    scope = request_hash("filter")
    token = codec(secret, holder).encode(last, scope)
    message = refused(lambda: codec(secret, other).decode(token, scope))
    assert "not issued to this caller" in message


@BOUNDED
@given(secret=secrets, holder=holders, last=keys, parts=request_parts, others=request_parts)
def test_other_request_parameters_or_expiry_are_refused(
    secret: bytes, holder: str, last: list[str], parts: list[object], others: list[object]
) -> None:
    scope, other_scope = request_hash(*parts), request_hash(*others)
    token = codec(secret, holder).encode(last, scope)
    if other_scope != scope:
        message = refused(lambda: codec(secret, holder).decode(token, other_scope))
        assert "other parameters" in message
    expired = codec(secret, holder, NOW + timedelta(hours=24))
    assert "expired" in refused(lambda: expired.decode(token, scope))


@BOUNDED
@given(parts=request_parts, others=request_parts)
def test_request_hash_is_equal_exactly_for_equal_parameters(
    parts: list[object], others: list[object]
) -> None:
    same = request_hash(*parts) == request_hash(*others)
    # Type-tagged: 1 and True, "1" and 1, [] and None hash apart.
    assert same == (
        [(type(p), p) for p in parts] == [(type(o), o) for o in others]
        and all(
            not isinstance(p, list) or [type(x) for x in p] == [type(x) for x in o]
            for p, o in zip(parts, others, strict=True)
        )
    )


# -- resource names ------------------------------------------------------------------------
segment = st.text(
    st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1, max_size=20
)
collection = st.from_regex(r"[a-z][a-zA-Z]{0,15}", fullmatch=True)


@BOUNDED
@given(collections=st.lists(collection, min_size=1, max_size=4), data=st.data())
def test_a_name_reads_back_into_its_ids(collections: list[str], data: st.DataObject) -> None:
    ids = [data.draw(segment) for _ in collections]
    pattern = "/".join(f"{c}/{{v{i}}}" for i, c in enumerate(collections))
    name = "/".join(f"{c}/{i}" for c, i in zip(collections, ids, strict=True))
    assert resource_ids_of(name, pattern) == tuple(ids)
    assert resource_id(f"{collections[0]}/{ids[0]}", collections[0]) == ids[0]
    assert resource_ids(
        [f"{collections[0]}/{i}" for i in ids], collections[0], field="names"
    ) == tuple(ids)


@BOUNDED
@given(
    coll=collection,
    name=st.text(max_size=40),
    field=st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
)
def test_a_name_off_the_pattern_is_refused_naming_the_field(
    coll: str, name: str, field: str
) -> None:
    prefix = f"{coll}/"
    rest = name[len(prefix) :]
    well_formed = name.startswith(prefix) and bool(rest) and "/" not in rest
    if well_formed:
        assert resource_id(name, coll, field=field) == name[len(prefix) :]
    else:
        message = refused(lambda: resource_id(name, coll, field=field), field)
        assert f"{coll}/{{id}}" in message


@BOUNDED
@given(
    coll=collection,
    names=st.lists(st.one_of(segment.map(lambda s: f"x/{s}"), st.text(max_size=10)), max_size=8),
)
def test_every_bad_name_of_a_repeated_field_is_reported_at_its_index(
    coll: str, names: list[str]
) -> None:
    given_names = [n.replace("x/", f"{coll}/", 1) if n.startswith("x/") else n for n in names]
    bad = [
        i
        for i, n in enumerate(given_names)
        if not (n.startswith(f"{coll}/") and n.count("/") == 1 and len(n) > len(coll) + 1)
    ]
    if bad:
        with pytest.raises(InvalidArgument) as error:
            resource_ids(given_names, coll, field="names")
        assert [v.field for v in error.value.violations] == [f"names[{i}]" for i in bad]
    else:
        found = resource_ids(given_names, coll, field="names")
        assert found == tuple(n.split("/", 1)[1] for n in given_names)
