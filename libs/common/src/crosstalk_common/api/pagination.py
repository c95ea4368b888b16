"""AIP-158 pagination: page sizes and opaque, signed page tokens.

A page token is a serialized ``crosstalk.common.v1.PageCursor`` (keyset
position, hash of the request parameters, hash of the caller it was issued
to, expiry) followed by an HMAC-SHA256 of it, base64url-encoded without
padding. Clients cannot forge it; a token that was altered, has expired, is
presented by another caller (another tenant, another member) or is replayed
with other request parameters is rejected with INVALID_ARGUMENT, each with
its own message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError, Message

from crosstalk.common.v1 import paging_pb2
from crosstalk_common.api.timestamps import from_timestamp, to_timestamp
from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.grpc.auth import current_principal

_Item = TypeVar("_Item")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# What a page may weigh as protobuf when its List weighs items: JSON of it stays
# under the gateway's 16 MiB transcoder buffer even at 6 bytes a byte (ADR 0016).
PAGE_BYTES_BUDGET = 2 * 1024 * 1024

_TOKEN_VERSION = b"\x01"
_MAC_BYTES = hashlib.sha256().digest_size


def coerce_page_size(
    page_size: int,
    *,
    default: int = DEFAULT_PAGE_SIZE,
    maximum: int = MAX_PAGE_SIZE,
    field: str = "page_size",
) -> int:
    """0 means ``default``; above ``maximum`` is capped; negative is INVALID_ARGUMENT."""
    if page_size < 0:
        raise InvalidArgument.field(field, f"must not be negative, got {page_size}")
    if page_size == 0:
        return min(default, maximum)
    return min(page_size, maximum)


class ListRequest(Protocol):
    """What every List request carries (AIP-158)."""

    @property
    def page_size(self) -> int: ...
    @property
    def page_token(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ListWindow:
    """The page a List call serves: how many items, and after which keyset position.

    Fetch ``limit`` items (one more than ``size``) from ``after``, then ``cut``
    them into the page and its next_page_token.
    """

    size: int
    after: list[str]
    request_hash: str
    codec: PageTokenCodec

    @property
    def limit(self) -> int:
        return self.size + 1

    def cut(
        self,
        fetched: Sequence[_Item],
        keys: Callable[[_Item], Sequence[str]],
        *,
        weigh: Callable[[_Item], int] | None = None,
    ) -> tuple[list[_Item], str]:
        """The page and its next_page_token, as ``PageTokenCodec.next_page``."""
        return self.codec.next_page(fetched, self.size, self.request_hash, keys, weigh=weigh)

    def token_after(self, last_keys: Sequence[str]) -> str:
        """The next_page_token for a page that ends at ``last_keys`` (pages cut elsewhere)."""
        return self.codec.encode(last_keys, self.request_hash)


class PageTokenCodec:
    """Signs and checks page tokens with a secret shared by a service's replicas."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
        holder: Callable[[], str] = current_principal,
    ) -> None:
        """``holder`` names who a token is issued to (tenant and principal of the
        RPC being served, by default): a token is only good for its holder."""
        if not secret:
            raise ValueError("a page token secret must not be empty")
        if ttl <= timedelta(0):
            raise ValueError("a page token ttl must be positive")
        self._secret = secret
        self._ttl = ttl
        self._clock = clock
        self._holder = holder

    def encode(self, last_keys: Sequence[str], request_hash: str) -> str:
        """The token for the page after the item whose sort keys are ``last_keys``."""
        cursor = paging_pb2.PageCursor(
            last_keys=list(last_keys), request_hash=request_hash, holder_hash=self._holder_hash()
        )
        cursor.expire_time.CopyFrom(to_timestamp(as_utc(self._clock()) + self._ttl))
        payload = _TOKEN_VERSION + cursor.SerializeToString(deterministic=True)
        raw = self._sign(payload) + payload
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def window(
        self,
        request: ListRequest,
        *request_parts: object,
        default: int = DEFAULT_PAGE_SIZE,
        maximum: int = MAX_PAGE_SIZE,
    ) -> ListWindow:
        """Opens a List call: coerces ``request.page_size`` and decodes
        ``request.page_token``, bound to ``request_hash(*request_parts)`` -- the
        parameters that define the result set (filter, order, parent)."""
        size = coerce_page_size(request.page_size, default=default, maximum=maximum)
        scope = request_hash(*request_parts)
        return ListWindow(size, self.decode(request.page_token, scope), scope, self)

    def next_page(
        self,
        fetched: Sequence[_Item],
        size: int,
        request_hash: str,
        keys: Callable[[_Item], Sequence[str]],
        *,
        weigh: Callable[[_Item], int] | None = None,
        budget: int = PAGE_BYTES_BUDGET,
    ) -> tuple[list[_Item], str]:
        """Cut a keyset page: ``fetched`` asked for ``size + 1`` rows; the extra one
        only says there is more. Returns the page and the token for the next one
        ("" on the last page), made from the keys of the page's last item.

        With ``weigh`` (an item's serialized size), the page also ends before the
        item that would take it over ``budget`` bytes -- never before its first
        item -- so that a page of large items still fits the gateway's buffer;
        the token then continues right after the last item served."""
        page = list(fetched[:size])
        more = len(fetched) > size
        if weigh is not None:
            total = 0
            for index, item in enumerate(page):
                total += weigh(item)
                if total > budget and index > 0:
                    page, more = page[:index], True
                    break
        if not more:
            return page, ""
        return page, self.encode(keys(page[-1]), request_hash)

    def decode(self, token: str, request_hash: str, *, field: str = "page_token") -> list[str]:
        """The keyset position carried by ``token``; ``""`` (first page) gives ``[]``."""
        if not token:
            return []
        cursor = self._verified_cursor(token, field)
        # Tokens issued before holders were recorded carry none; their request
        # hash still binds them to a tenant.
        if cursor.holder_hash and not hmac.compare_digest(cursor.holder_hash, self._holder_hash()):
            raise InvalidArgument.field(
                field,
                "this page token was not issued to this caller; use only the next_page_token "
                "of your own previous page, or start again without a page_token",
            )
        if not hmac.compare_digest(cursor.request_hash, request_hash):
            raise InvalidArgument.field(
                field,
                "belongs to a request with other parameters (filter, order); keep them the "
                "same while paging, or start again without a page_token",
            )
        now = as_utc(self._clock())
        if not cursor.HasField("expire_time") or from_timestamp(cursor.expire_time) <= now:
            raise InvalidArgument.field(
                field, "has expired; start again from the first page without a page_token"
            )
        return list(cursor.last_keys)

    def _holder_hash(self) -> str:
        # Keyed, so a token shows neither tenant nor principal to its reader.
        return hmac.new(self._secret, self._holder().encode(), hashlib.sha256).hexdigest()[:32]

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def _verified_cursor(self, token: str, field: str) -> paging_pb2.PageCursor:
        invalid = InvalidArgument.field(
            field, "is not a page token issued by this service; pass next_page_token unchanged"
        )
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise invalid from None
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if not payload.startswith(_TOKEN_VERSION) or not hmac.compare_digest(
            mac, self._sign(payload)
        ):
            raise invalid
        try:
            return paging_pb2.PageCursor.FromString(payload[len(_TOKEN_VERSION) :])
        except DecodeError:
            raise invalid from None


def request_hash(*parts: object) -> str:
    """A stable hash of the request parameters that define a result set.

    Accepts protobuf messages (hashed by type and deterministic serialization),
    ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, enums, dates and
    (nested) sequences and mappings. Equal inputs hash equally across processes.
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(_canonical(part))
    return digest.hexdigest()[:32]


def _canonical(value: object) -> bytes:
    """An unambiguous, type-tagged, length-prefixed encoding of ``value``."""
    tag: str
    body: bytes
    if isinstance(value, Message):
        tag = "m:" + value.DESCRIPTOR.full_name
        body = value.SerializeToString(deterministic=True)
    elif value is None:
        tag, body = "none", b""
    elif isinstance(value, bool):
        tag, body = "bool", b"1" if value else b"0"
    elif isinstance(value, Enum):
        tag, body = "enum:" + type(value).__qualname__, _canonical(value.value)
    elif isinstance(value, int | float):
        tag, body = type(value).__name__, json.dumps(value).encode()
    elif isinstance(value, str):
        tag, body = "str", value.encode()
    elif isinstance(value, bytes):
        tag, body = "bytes", value
    elif isinstance(value, datetime):
        tag, body = "datetime", as_utc(value).isoformat().encode()
    elif isinstance(value, date):
        tag, body = "date", value.isoformat().encode()
    elif isinstance(value, Mapping):
        tag = "map"
        items = sorted((_canonical(k), _canonical(v)) for k, v in value.items())
        body = b"".join(k + v for k, v in items)
    elif isinstance(value, list | tuple):
        tag, body = "seq", b"".join(_canonical(v) for v in value)
    elif isinstance(value, set | frozenset):
        tag, body = "set", b"".join(sorted(_canonical(v) for v in value))
    else:
        raise TypeError(f"cannot hash request part of type {type(value).__name__}")
    head = tag.encode()
    return len(head).to_bytes(2, "big") + head + len(body).to_bytes(8, "big") + body
