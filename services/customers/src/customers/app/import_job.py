"""The import job: reads the file's rows in batches and creates, updates or
skips customers (see app/imports.py for what StartImport checks first).

Each batch is one unit of work; the next batch is read (a workbook parsed,
its rows checked) in a thread while one is written. A row is matched to an
existing customer by channel identity, then email, then phone (tenant-wide,
through indexes, one lookup per kind of key for the whole batch); a row with
a problem is reported and writes nothing.

The batch's customer.created / customer.updated events and their timeline
rows are staged here and written by the import store, in bulk, in the
batch's transaction (tags added to existing customers go through
change_tags and the unit of work, as everywhere else). The outbox relay
picks them up on its next poll.

A resumed job carries on after the last batch it reported. A batch written
but not reported (the worker died in between) is matched again: its
customers are found by their identities, emails and phones, and rows
without any of these by the id their row number gives them in this job.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from crosstalk_common.clock import utc_now
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.imports import (
    PREVIEW_ROWS,
    ImportSpec,
    ImportStore,
    ImportStoreOf,
    ImportSummary,
    Match,
    PreviewRow,
    SheetReader,
)
from customers.app.job_ports import JobContext
from customers.app.jobs import visibility_of
from customers.app.ports import IdentityTaken, UnitOfWork
from customers.app.tags import change_tags, tag_name
from customers.domain.events import CustomerCreated, CustomerEvent, CustomerTagged, CustomerUpdated
from customers.domain.imports import (
    ColumnPlan,
    ImportedRow,
    MatchPolicy,
    RowError,
    RowKeys,
    apply_row,
    as_draft,
    identity_key,
    new_customer_errors,
    plan_columns,
    read_row,
    updated_customer_errors,
)
from customers.domain.jobs import JobError, job_name
from customers.domain.model import (
    Customer,
    CustomFieldDefinition,
    Tag,
    TagGroup,
    TimelineEntry,
    displaced_by_exclusive,
)
from customers.domain.names import customer_name

# Rows per unit of work: fewer, larger transactions (and lookups, COPYs and
# progress reports) at a bounded cost in memory (two batches are held at a time).
BATCH_ROWS = 2000
# Ids of customers an import creates follow from the job and the row.
_ROW_IDS = uuid.UUID("5d0c63e4-8b8f-4a55-9d43-6f3c0e1a2b7d")
_Read = list[tuple[ImportedRow, list[RowError]]]
_Key = tuple[str, str]


def _take(rows: Iterator[tuple[int, list[object]]], count: int) -> list[tuple[int, list[object]]]:
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) == count:
            break
    return batch


@dataclass
class _Batch:
    """What one batch found and did."""

    errors: list[RowError] = field(default_factory=list)
    failed_rows: set[int] = field(default_factory=set)
    created: int = 0
    existing: int = 0
    updated: int = 0
    skipped: int = 0
    samples: list[PreviewRow] = field(default_factory=list)

    def fail(self, errors: Sequence[RowError]) -> None:
        self.errors.extend(errors)
        self.failed_rows.update(e.row for e in errors)


@dataclass
class _Staged:
    """A commit batch's events (event id, payload) and their timeline rows, written
    by the import store at the end of the batch, in its transaction."""

    events: list[tuple[str, CustomerEvent]] = field(default_factory=list)
    entries: list[TimelineEntry] = field(default_factory=list)


class ImportHandler:
    """Runs IMPORT jobs (JobHandler)."""

    def __init__(
        self,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        sheets: SheetReader,
        store: ImportStoreOf,
        *,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.new_uow = new_uow
        self.sheets = sheets
        self.store = store
        self.batch_rows = batch_rows

    async def run(self, ctx: JobContext) -> None:
        await _ImportRun(self, ctx).run()


class _ImportRun:
    """One run of an import job (a resumed job gets a new one)."""

    def __init__(self, handler: ImportHandler, ctx: JobContext) -> None:
        self.handler = handler
        self.new_uow = handler.new_uow
        self.ctx = ctx
        self.job = ctx.job
        self.spec = ImportSpec.from_json(ctx.job.spec)
        self.tenant_id = ctx.job.tenant_id
        self.visibility = visibility_of(ctx.job.scope)
        self.preview = ctx.job.preview_only
        self.definitions: dict[str, CustomFieldDefinition] = {}
        self.request_tags: list[Tag] = []
        # Keys of rows gone through -> the customer each is about: in a preview
        # every row of the file ("" for a customer it would create), in a commit
        # the rows of the batch under way.
        self.known: dict[_Key, str] = {}
        # New customers of the commit batch under way, by id.
        self.pending: dict[str, Customer] = {}
        # The first batch of a resumed run may have been written already.
        self.resumed = bool(ctx.job.cursor)

    async def run(self) -> None:
        async with self.new_uow() as uow:
            self.definitions = await uow.fields.by_key(self.tenant_id)
            # Tags deleted since the import started are left out.
            found = await uow.tags.tags(self.tenant_id, set(self.spec.tag_ids))
            self.request_tags = [found[t] for t in self.spec.tag_ids if t in found]
        with tempfile.TemporaryFile() as upload:
            async with self.new_uow() as uow:
                async for chunk in uow.jobs.read_file(self.tenant_id, self.job.id, "input"):
                    upload.write(chunk)
            upload.seek(0)
            sheet = await asyncio.to_thread(self.handler.sheets.open, upload, self.spec.file_format)
            try:
                plan = plan_columns(sheet.header, self.spec.mappings, self.definitions)
                if not self.job.cursor and sheet.size_hint:
                    await self.ctx.set_total(sheet.size_hint)
                await self._batches(plan, sheet.rows())
            finally:
                sheet.close()

    async def _batches(self, plan: ColumnPlan, rows: Iterator[tuple[int, list[object]]]) -> None:
        cursor = self.job.cursor
        start_after = int(cursor.get("row", 0))
        summary = ImportSummary.from_json(cursor.get("summary", {}))
        size = self.handler.batch_rows

        def read_batch() -> tuple[_Read, _Read] | None:
            """The next rows, parsed and checked: (before the cursor, after it); None at the end."""
            batch = _take(rows, size)
            if not batch:
                return None
            before = [(n, cells) for n, cells in batch if n <= start_after]
            return (
                [read_row(plan, n, cells, self.definitions) for n, cells in before]
                if self.preview
                else [],
                [
                    read_row(plan, n, cells, self.definitions)
                    for n, cells in batch
                    if n > start_after
                ],
            )

        # The next batch is read (a workbook parsed, rows checked) in a thread
        # while this one is written.
        ahead = asyncio.ensure_future(asyncio.to_thread(read_batch))
        try:
            while (next_batch := await ahead) is not None:
                done, read = next_batch
                ahead = asyncio.ensure_future(asyncio.to_thread(read_batch))
                for row, errors in done:
                    if not errors:  # a resumed preview remembers the rows before the cursor
                        self._remember(row.keys, "")
                if read:
                    await self._batch(read, summary)
        finally:
            if not ahead.done():
                # Let the reader finish before the file is closed under it.
                await asyncio.gather(ahead, return_exceptions=True)
        if summary.new_customers and not self.preview:
            async with self.new_uow() as uow:
                await self.handler.store(uow).refresh_statistics()
                await uow.commit()
        await self.ctx.set_total(summary.total_rows)
        await self.ctx.set_result(summary.to_json())

    async def _batch(self, read: _Read, summary: ImportSummary) -> None:
        outcome = await (self._preview_batch(read) if self.preview else self._commit(read))
        failed = len(outcome.failed_rows)
        summary.total_rows += len(read)
        summary.valid_rows += len(read) - failed
        summary.new_customers += outcome.created
        summary.existing_customers += outcome.existing
        summary.updated += outcome.updated
        summary.skipped += outcome.skipped
        summary.rows.extend(outcome.samples[: PREVIEW_ROWS - len(summary.rows)])
        summary.add_errors(outcome.errors)
        await self.ctx.report(
            processed=len(read),
            succeeded=len(read) - failed,
            failed=failed,
            errors=[JobError(e.message, row=e.row, column=e.column) for e in outcome.errors],
            cursor={"row": read[-1][0].row, "summary": summary.to_json()},
        )

    # --- matching -----------------------------------------------------------------

    def _remember(self, keys: RowKeys, customer_id: str) -> None:
        for key in keys.all():
            self.known.setdefault(key, customer_id)

    def _lookup(self, key: _Key, found: dict[_Key, Match]) -> Match | None:
        hit = found.get(key)
        if hit is None and key in self.known:
            hit = Match(self.known[key], True)
        return hit

    def _match(
        self, row: ImportedRow, found: dict[_Key, Match]
    ) -> tuple[Match | None, list[RowError]]:
        """The customer a row is about: by channel identity, then email, then phone."""
        owners = {
            hit.customer_id
            for i in row.identities
            if (hit := self._lookup(("identity", identity_key(i)), found)) is not None
        }
        if len(owners) > 1:
            return None, [
                RowError(row.row, "", "its channel ids belong to different customers", "")
            ]
        for key in row.keys.all():
            hit = self._lookup(key, found)
            if hit is None:
                continue
            if not hit.visible:
                return None, [
                    RowError(
                        row.row,
                        _column_of_key(row, key[0]),
                        f"the {key[0]} belongs to a customer outside your data scope",
                        key[1].rsplit(":", 1)[-1],
                    )
                ]
            return hit, []
        return None, []

    async def _matches(self, store: ImportStore, read: _Read) -> dict[_Key, Match]:
        """The customers the batch's rows name, by identity, email and phone."""
        valid = [row for row, errors in read if not errors]
        found = await store.identity_matches(
            self.tenant_id, self.visibility, [i for row in valid for i in row.identities]
        )
        contacts = [key for row in valid for key in row.keys.all() if key[0] != "identity"]
        found.update(await store.contact_matches(self.tenant_id, self.visibility, contacts))
        return found

    async def _resolve_tags(
        self, uow: UnitOfWork, read: _Read
    ) -> tuple[dict[str, Tag], dict[str, TagGroup]]:
        names = {n for row, errors in read if not errors for n in row.tag_names}
        by_name = await uow.tags.tags_by_display_name(self.tenant_id, names)
        every = [*by_name.values(), *self.request_tags]
        groups = await uow.tags.groups(self.tenant_id, {t.group_id for t in every if t.group_id})
        return by_name, groups

    def _row_tags(
        self, row: ImportedRow, by_name: dict[str, Tag], groups: dict[str, TagGroup]
    ) -> tuple[list[Tag], list[RowError]]:
        """The request's tags and the row's, or why the row's cannot be added."""
        column = row.sources.get("tags", "")
        errors = [
            RowError(row.row, column, f"no tag named {name!r}: create it first", name)
            for name in row.tag_names
            if name not in by_name
        ]
        named = [by_name[n] for n in row.tag_names if n in by_name]
        tags = list({t.id: t for t in [*self.request_tags, *named]}.values())
        if not errors and groups:
            try:
                displaced_by_exclusive(frozenset(), tags, groups, {})
            except InvalidArgument as exc:
                errors = [RowError(row.row, column, exc.violations[0].description, "")]
        return tags, errors

    def _new(
        self, row: ImportedRow, tags: list[Tag], customer_id: str = "", now: datetime | None = None
    ) -> Customer:
        return as_draft(
            row,
            tenant_id=self.tenant_id,
            customer_id=customer_id,
            owner=self.spec.owner_member_id,
            department=self.spec.department_id,
            tags=frozenset(t.id for t in tags),
            now=now,
        )

    # --- preview --------------------------------------------------------------------

    async def _preview_batch(self, read: _Read) -> _Batch:
        outcome = _Batch()
        async with self.new_uow() as uow:
            found = await self._matches(self.handler.store(uow), read)
            by_name, groups = await self._resolve_tags(uow, read)
            for row, cell_errors in read:
                if cell_errors:
                    outcome.fail(cell_errors)
                    continue
                tags, errors = self._row_tags(row, by_name, groups)
                match, match_errors = self._match(row, found)
                errors += match_errors
                sample: Customer | None = None
                if not errors and match is None:
                    sample = self._new(row, tags)
                    errors = new_customer_errors(row, sample, self.definitions)
                elif not errors and match is not None and match.customer_id:
                    sample, errors = await self._preview_existing(uow, row, tags, match, outcome)
                if errors:
                    outcome.fail(errors)
                    continue
                if match is None:
                    outcome.created += 1
                else:
                    outcome.existing += 1
                self._remember(row.keys, match.customer_id if match else "")
                if len(outcome.samples) < PREVIEW_ROWS:
                    existing = (
                        customer_name(match.customer_id) if match and match.customer_id else ""
                    )
                    outcome.samples.append(
                        PreviewRow(row.row, sample or self._new(row, tags), existing)
                    )
        return outcome

    async def _preview_existing(
        self, uow: UnitOfWork, row: ImportedRow, tags: list[Tag], match: Match, outcome: _Batch
    ) -> tuple[Customer | None, list[RowError]]:
        """An existing customer as the import would leave it (loaded for updates and samples)."""
        updating = self.spec.policy is MatchPolicy.UPDATE
        if not updating and len(outcome.samples) >= PREVIEW_ROWS:
            return None, []
        current = await uow.customers.get(self.tenant_id, match.customer_id, self.visibility)
        if current is None or not updating:
            return current, []
        merged, _ = apply_row(current, row)
        merged = replace(merged, tags=merged.tags | {t.id for t in tags})
        return merged, updated_customer_errors(row, merged, self.definitions)

    # --- commit ---------------------------------------------------------------------

    async def _commit(self, read: _Read) -> _Batch:
        outcome = _Batch()
        # Earlier batches are in the database: only this batch's rows are remembered.
        self.pending = {}
        self.known = {}
        async with self.new_uow() as uow:
            store = self.handler.store(uow)
            found = await self._matches(store, read)
            by_name, groups = await self._resolve_tags(uow, read)
            staged = _Staged()
            rows_of: dict[str, ImportedRow] = {}
            now = utc_now()
            for row, cell_errors in read:
                if cell_errors:
                    outcome.fail(cell_errors)
                    continue
                tags, errors = self._row_tags(row, by_name, groups)
                match, match_errors = self._match(row, found)
                errors += match_errors
                if errors:
                    outcome.fail(errors)
                elif match is None:
                    customer_id = str(uuid.uuid5(_ROW_IDS, f"{self.job.id}:{row.row}"))
                    customer = self._new(row, tags, customer_id, now)
                    errors = new_customer_errors(row, customer, self.definitions)
                    if errors:
                        outcome.fail(errors)
                        continue
                    self.pending[customer_id] = customer
                    rows_of[customer_id] = row
                    self._remember(row.keys, customer_id)
                elif match.customer_id in self.pending:
                    self._fold_into_pending(row, match.customer_id, tags, outcome)
                elif self.spec.policy is MatchPolicy.SKIP:
                    outcome.existing += 1
                    outcome.skipped += 1
                else:
                    await self._update(uow, row, match.customer_id, tags, outcome, staged)
            await self._create(store, rows_of, outcome, staged)
            await store.add_events(self.tenant_id, staged.events)
            await store.add_timeline(staged.entries)
            await uow.commit()
        self.resumed = False
        return outcome

    def _fold_into_pending(
        self, row: ImportedRow, customer_id: str, tags: list[Tag], outcome: _Batch
    ) -> None:
        """A row repeating a customer an earlier row of the batch creates."""
        if self.spec.policy is MatchPolicy.SKIP:
            outcome.existing += 1
            outcome.skipped += 1
            return
        merged, _ = apply_row(self.pending[customer_id], row)
        merged = replace(merged, tags=merged.tags | {t.id for t in tags})
        errors = updated_customer_errors(row, merged, self.definitions)
        if errors:
            outcome.fail(errors)
            return
        outcome.existing += 1
        outcome.updated += 1
        self.pending[customer_id] = merged
        self._remember(row.keys, customer_id)

    async def _update(
        self,
        uow: UnitOfWork,
        row: ImportedRow,
        customer_id: str,
        tags: list[Tag],
        outcome: _Batch,
        staged: _Staged,
    ) -> None:
        current = await uow.customers.get(self.tenant_id, customer_id, self.visibility)
        if current is None:
            outcome.fail(
                [RowError(row.row, "", "the customer it matches is gone or out of your scope", "")]
            )
            return
        updated, changed = apply_row(current, row)
        errors = updated_customer_errors(row, updated, self.definitions)
        if not errors and "identities" in changed:
            taken = await uow.customers.identities_taken(
                self.tenant_id, updated.identities, except_id=current.id
            )
            errors = [
                RowError(
                    row.row,
                    row.column_of(f"identities[{row.identities.index(t)}]")
                    if t in row.identities
                    else "",
                    "this channel id belongs to another customer",
                    t.external_id,
                )
                for t in taken
            ]
        if errors:
            outcome.fail(errors)
            return
        if changed:
            updated = replace(updated, updated_at=utc_now(), version=current.version + 1)
            if not await uow.customers.save(updated, expected_version=current.version):
                outcome.fail(
                    [RowError(row.row, "", "the customer changed while it was imported", "")]
                )
                return
            _tell(
                staged,
                updated,
                CustomerUpdated(
                    customer_id=customer_id,
                    changed_fields=tuple(changed),
                    actor=self.spec.actor,
                    owner_member_id=updated.owner_member_id,
                    department_id=updated.department_id,
                ),
                summary="Updated " + ", ".join(changed) + " by an import",
                actor=self.spec.actor,
                details={"changed_fields": changed, "job": job_name(self.job.id)},
            )
        added: frozenset[str] = frozenset()
        if tags:
            change = await change_tags(
                uow.customers, uow.tags, uow.emit, updated, add=tags, actor=self.spec.actor
            )
            added = change.added
        self._remember(row.keys, customer_id)
        outcome.existing += 1
        if changed or added:
            outcome.updated += 1
        else:
            outcome.skipped += 1

    async def _create(
        self,
        store: ImportStore,
        rows_of: dict[str, ImportedRow],
        outcome: _Batch,
        staged: _Staged,
    ) -> None:
        pending = list(self.pending.values())
        if not pending:
            return
        if self.resumed:
            # Written by the run that died before reporting this batch.
            done = await store.existing_ids(self.tenant_id, [c.id for c in pending])
            outcome.created += len(done)
            pending = [c for c in pending if c.id not in done]
        try:
            await store.add_customers(pending)
            added = pending
        except IdentityTaken:
            # An identity was taken meanwhile: one by one, to tell which row.
            added = []
            for customer in pending:
                try:
                    await store.add_customers([customer])
                    added.append(customer)
                except IdentityTaken:
                    outcome.fail(
                        [
                            RowError(
                                rows_of[customer.id].row,
                                "",
                                "a channel id of the row was given to another customer meanwhile",
                                "",
                            )
                        ]
                    )
        for customer in added:
            outcome.created += 1
            _tell(
                staged,
                customer,
                CustomerCreated(customer),
                summary=f"Created {customer.display_name} by an import",
                actor=self.spec.actor,
                details={"job": job_name(self.job.id)},
            )
            if customer.tags:
                ordered = tuple(sorted(customer.tags))
                names = [tag_name(t) for t in ordered]
                _tell(
                    staged,
                    customer,
                    CustomerTagged(customer.id, ordered),
                    summary="Tagged " + ", ".join(names),
                    actor=self.spec.actor,
                    details={"tags": names},
                )


def _column_of_key(row: ImportedRow, kind: str) -> str:
    if kind == "email":
        return row.sources.get("emails", "")
    if kind == "phone":
        return row.sources.get("phones", "")
    return row.column_of("identities[0]")


def _tell(
    staged: _Staged,
    customer: Customer,
    payload: CustomerEvent,
    *,
    summary: str,
    actor: str,
    details: dict[str, object],
) -> None:
    """Stage an event and its timeline row (written with the batch's other rows)."""
    event_id = str(uuid.uuid4())
    staged.events.append((event_id, payload))
    staged.entries.append(
        TimelineEntry(
            event_id=event_id,
            tenant_id=customer.tenant_id,
            customer_id=customer.id,
            type=payload.type,
            occurred_at=utc_now(),
            summary=summary,
            actor=actor,
            resource=customer_name(customer.id),
            details=details,
        )
    )
