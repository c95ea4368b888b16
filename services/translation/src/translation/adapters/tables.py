"""The translation service's own database schema.

Glossaries, presets and translation memory arrive with the translation
issue; until then it keeps only the outbox and inbox.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
