"""PostgreSQL connections pinged before use only when they sat in the pool a while.

``pool_pre_ping`` pings every connection the pool hands out: a round trip to
PostgreSQL before every unit of work, and about 0.1 ms of the client's CPU
(issue 14: GetCustomer on PostgreSQL made two round trips, the ping and its
one SELECT). A connection given back a moment ago was alive then; the ping
matters for one that sat idle while PostgreSQL restarted, failed over or
closed it. So a connection is pinged at checkout only when it has been in the
pool at least ``idle_seconds``; one that does not answer is replaced before
the caller sees it, as ``pool_pre_ping`` would (the pool tries a new
connection). A connection the server dropped within the last ``idle_seconds``
fails its first statement instead, and SQLAlchemy then invalidates the pool,
as it does for a connection that breaks while in use.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

# Where a pooled connection's record keeps when it was given back.
_IDLE_SINCE = "crosstalk_idle_since"


def ping_when_idle(engine: Engine, *, idle_seconds: float) -> None:
    """Ping ``engine``'s pooled connections at checkout once idle ``idle_seconds``
    (instead of ``pool_pre_ping``, which pings at every checkout)."""
    dialect = engine.dialect

    def given_back(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # new, or back a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError("an idle pooled connection did not answer") from error
            raise
        if not alive:
            raise DisconnectionError("an idle pooled connection did not answer")

    event.listen(engine, "checkin", given_back)
    event.listen(engine, "checkout", handed_out)
