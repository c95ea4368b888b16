"""Conversations and messages in SQL, always filtered by tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_common.domain.channel import Channel
from messaging.adapters.tables import given, messages
from messaging.app.ports import DuplicateMessage
from messaging.domain.model import (
    Direction,
    Intent,
    Message,
    Sender,
    Understanding,
    one_per_intent,
)

# Ingest's statements, built once with bound parameters: each message runs them with its
# values and SQLAlchemy finds them compiled (no statement built, no cache key worked out
# per call). Each write is one statement: a duplicate channel message id is an insert
# that does nothing (ON CONFLICT on the partial unique index, tables.py), not a
# savepoint rolled back after an IntegrityError (issue 14).
_FIND_BY_EXTERNAL_ID = in_the_loop(
    select(messages).where(
        messages.c.tenant_id == bindparam("tenant_id"),
        messages.c.channel == bindparam("channel"),
        messages.c.store == bindparam("store"),
        messages.c.external_id == bindparam("external_id"),
        given(messages.c.external_id),
    )
)


# The partial index's predicate in SQL text, not as a bound parameter: PostgreSQL
# matches ON CONFLICT's WHERE against an index's predicate when it plans the
# statement; once psycopg has prepared it (from its 6th run on a connection), a
# generic plan (from about the 11th) sees a parameter there and matches no index
# ("there is no unique or exclusion constraint matching the ON CONFLICT
# specification"). Conversations are opened in repository_conversations.py.


def _insert_unless_there(insert: Any, table: Table, key: list[str], where: Any) -> Any:
    """An insert into ``table`` that does nothing when a row holds its ``key`` already
    (the partial unique index on ``key`` ``where``), returning the id it inserted."""
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c[k] for k in key], index_where=where)
        .returning(table.c.id)
    )


_MESSAGE_KEY = ["tenant_id", "channel", "store", "external_id"]
_INSERTS = {
    dialect: in_the_loop(
        _insert_unless_there(
            module.insert, messages, _MESSAGE_KEY, messages.c.external_id != literal_column("''")
        )
    )
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}


class SqlMessagesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        postgres = session.get_bind().dialect.name == "postgresql"
        self._store = _INSERTS["postgresql" if postgres else "sqlite"]

    async def find_by_external_id(
        self, tenant_id: str, sender: Sender, external_id: str
    ) -> Message | None:
        row = (
            await self._session.execute(
                _FIND_BY_EXTERNAL_ID,
                {
                    "tenant_id": tenant_id,
                    "channel": sender.channel.value,
                    "store": sender.store,
                    "external_id": external_id,
                },
            )
        ).first()
        if row is None:
            return None
        return Message(
            id=row.id,
            tenant_id=row.tenant_id,
            conversation_id=row.conversation_id,
            customer=row.customer,
            sender=Sender(Channel(row.channel), row.sender_external_id, row.store),
            direction=Direction(row.direction),
            text=row.text,
            language=row.language,
            external_id=row.external_id,
            created_at=as_utc(row.created_at),
            understanding=Understanding(
                language=row.language,
                translated_text=row.translated_text,
                translated_language=row.translated_language,
                sentiment_score=row.sentiment_score,
                sentiment_label=row.sentiment_label,
                intents=one_per_intent(
                    Intent(
                        i["name"],
                        tuple(i["keywords"]),
                        float(i["confidence"]),
                        i.get("keyword_set", ""),
                    )
                    for i in row.intents
                ),
            ),
        )

    async def add(self, message: Message) -> None:
        stored = await self._session.scalar(
            self._store,
            {
                "id": message.id,
                "tenant_id": message.tenant_id,
                "conversation_id": message.conversation_id,
                "customer": message.customer,
                "channel": message.sender.channel.value,
                "store": message.sender.store,
                "sender_external_id": message.sender.external_id,
                "direction": message.direction.value,
                "text": message.text,
                "language": message.language,
                "translated_text": message.understanding.translated_text,
                "translated_language": message.understanding.translated_language,
                "sentiment_score": message.understanding.sentiment_score,
                "sentiment_label": message.understanding.sentiment_label,
                "intents": [
                    {
                        "name": i.name,
                        "keywords": list(i.keywords),
                        "confidence": i.confidence,
                        "keyword_set": i.keyword_set,
                    }
                    for i in message.understanding.intents
                ],
                "external_id": message.external_id,
                "created_at": message.created_at,
            },
        )
        if stored is None:
            raise DuplicateMessage(message.external_id)
