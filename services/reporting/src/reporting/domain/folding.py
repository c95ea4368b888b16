"""What events add to the measures (pure Python).

Folding a batch of events, in order, does two things: it keeps small
projections up to date (each customer's facts from its snapshots, each
conversation's reply state, each case's state), and it emits observations:
+n (and a value, for measured things) on a measure, at the event's time,
under the dimensions the projections give then. Levels (conversations by
status, cases by state, customers by tier and by tag) move by -1 on the key
they were last counted under and +1 on the new one, so a level can be read
as of any moment by adding up its changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from reporting.domain.catalogue import Dimension, Measure
from reporting.domain.observed import (
    SYSTEM_SENDER,
    CaseOpened,
    CaseTransitioned,
    ConversationAssigned,
    ConversationOpened,
    ConversationStatusChanged,
    CsatSubmitted,
    CustomerChanged,
    MessageIn,
    MessageOut,
    ObservedEvent,
    OrderRecorded,
    RuleActionCompleted,
    RuleFired,
    RuleHourCounts,
    Seen,
)

D = Dimension
Key = tuple[str, str]  # (tenant id, resource name)


@dataclass(frozen=True)
class LevelKey:
    """Where a level was last counted: the row dimensions, tags and owner."""

    dims: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    owner: str = ""

    def as_json(self) -> dict[str, object]:
        return {"dims": [list(d) for d in self.dims], "tags": list(self.tags), "owner": self.owner}

    @staticmethod
    def from_json(data: Mapping[str, object] | None) -> LevelKey | None:
        if not data:
            return None
        dims = data.get("dims") or []
        tags = data.get("tags") or []
        if not isinstance(dims, list) or not isinstance(tags, list):
            return None
        return LevelKey(
            dims=tuple((str(d[0]), str(d[1])) for d in dims),
            tags=tuple(str(t) for t in tags),
            owner=str(data.get("owner", "")),
        )


@dataclass
class CustomerFacts:
    version: int = 0
    owner: str = ""
    department: str = ""
    tier: str = ""
    country: str = ""
    tags: tuple[str, ...] = ()
    stage: str = ""
    stage_since: datetime | None = None
    deleted: bool = False


@dataclass
class ConversationFacts:
    customer: str = ""
    channel: str = ""
    store: str = ""
    language: str = ""
    assignee: str = ""
    team: str = ""
    opened_at: datetime | None = None
    status: str = ""
    awaiting_since: datetime | None = None
    answered: bool = False
    agent_replied: bool = False
    rule_replied: bool = False
    first_replier: str = ""  # "agent" or "rule"
    level: LevelKey | None = None


@dataclass
class CaseFacts:
    customer: str = ""
    case_type: str = ""
    opened_at: datetime | None = None
    amount: float = 0.0
    currency: str = ""
    state: str = ""
    level: LevelKey | None = None


@dataclass
class Projections:
    """The facts folding reads and changes; ``changed_*`` say what to write back."""

    customers: dict[Key, CustomerFacts] = field(default_factory=dict)
    conversations: dict[Key, ConversationFacts] = field(default_factory=dict)
    cases: dict[Key, CaseFacts] = field(default_factory=dict)
    changed_customers: set[Key] = field(default_factory=set)
    changed_conversations: set[Key] = field(default_factory=set)
    changed_cases: set[Key] = field(default_factory=set)


@dataclass(frozen=True)
class Keys:
    customers: frozenset[Key]
    conversations: frozenset[Key]
    cases: frozenset[Key]


def keys_needed(events: Iterable[ObservedEvent]) -> Keys:
    """The projection rows folding ``events`` reads."""
    customers: set[Key] = set()
    conversations: set[Key] = set()
    cases: set[Key] = set()
    for event in events:
        tenant = event.seen.tenant_id
        customer = getattr(event, "customer", "")
        if customer:
            customers.add((tenant, customer))
        conversation = getattr(event, "conversation", "")
        if conversation:
            conversations.add((tenant, conversation))
        case = getattr(event, "case", "")
        if case:
            cases.add((tenant, case))
    return Keys(frozenset(customers), frozenset(conversations), frozenset(cases))


@dataclass(frozen=True)
class Observation:
    """+count (and value) on a measure at a moment, under dimensions."""

    tenant_id: str
    measure: Measure
    at: datetime
    count: int
    value: float
    dims: tuple[tuple[str, str], ...]  # (Dimension.value, value), sorted; no TAG
    tags: tuple[str, ...]
    owner: str
    subject: str
    customer: str
    event_id: str
    measured: bool = False  # True when value goes into the histogram


_NAMES = {d: d.value for d in Dimension}


def _dims(values: Mapping[Dimension, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((_NAMES[d], v) for d, v in values.items() if v and d is not D.TAG))


def _department(facts: CustomerFacts) -> str:
    return f"departments/{facts.department}" if facts.department else ""


class _Folder:
    def __init__(self, projections: Projections) -> None:
        self.p = projections
        self.out: list[Observation] = []

    # -- helpers ---------------------------------------------------------------

    def customer(self, tenant: str, customer: str) -> CustomerFacts:
        return self.p.customers.get((tenant, customer)) or CustomerFacts()

    def customer_dims(self, facts: CustomerFacts) -> dict[Dimension, str]:
        return {D.DEPARTMENT: _department(facts), D.MARKET: facts.country, D.TIER: facts.tier}

    def conversation(self, tenant: str, conversation: str, at: datetime) -> ConversationFacts:
        key = (tenant, conversation)
        facts = self.p.conversations.get(key)
        if facts is None:
            facts = ConversationFacts(opened_at=at)
            self.p.conversations[key] = facts
        self.p.changed_conversations.add(key)
        return facts

    def conversation_dims(
        self, conv: ConversationFacts, cust: CustomerFacts
    ) -> dict[Dimension, str]:
        dims = self.customer_dims(cust)
        dims.update(
            {
                D.CHANNEL: conv.channel,
                D.STORE: conv.store,
                D.LANGUAGE: conv.language,
                D.AGENT: conv.assignee,
                D.TEAM: conv.team,
            }
        )
        return dims

    def emit(
        self,
        seen: Seen,
        measure: Measure,
        dims: Mapping[Dimension, str],
        *,
        subject: str,
        customer: str,
        tags: Sequence[str] = (),
        owner: str = "",
        count: int = 1,
        value: float = 0.0,
        measured: bool = False,
        at: datetime | None = None,
    ) -> None:
        self.out.append(
            Observation(
                tenant_id=seen.tenant_id,
                measure=measure,
                at=at or seen.at,
                count=count,
                value=value,
                dims=_dims(dims),
                tags=tuple(sorted(set(tags))),
                owner=owner,
                subject=subject,
                customer=customer,
                event_id=seen.event_id,
                measured=measured,
            )
        )

    def emit_for_customer(
        self,
        seen: Seen,
        measure: Measure,
        cust: CustomerFacts,
        extra: Mapping[Dimension, str],
        *,
        subject: str,
        customer: str,
        value: float = 0.0,
        measured: bool = False,
        count: int = 1,
    ) -> None:
        dims = self.customer_dims(cust)
        dims.update(extra)
        self.emit(
            seen,
            measure,
            dims,
            subject=subject,
            customer=customer,
            tags=cust.tags,
            owner=cust.owner,
            value=value,
            measured=measured,
            count=count,
        )

    def move_level(
        self,
        seen: Seen,
        measure: Measure,
        old: LevelKey | None,
        new: LevelKey | None,
        *,
        subject: str,
        customer: str,
    ) -> None:
        if old == new:
            return
        for key, count in ((old, -1), (new, 1)):
            if key is None:
                continue
            self.out.append(
                Observation(
                    tenant_id=seen.tenant_id,
                    measure=measure,
                    at=seen.at,
                    count=count,
                    value=0.0,
                    dims=key.dims,
                    tags=key.tags,
                    owner=key.owner,
                    subject=subject,
                    customer=customer,
                    event_id=seen.event_id,
                )
            )

    # -- customers ---------------------------------------------------------------

    def customer_levels(self, facts: CustomerFacts) -> tuple[LevelKey | None, list[LevelKey]]:
        if facts.version == 0 or facts.deleted:
            return None, []
        base = {D.DEPARTMENT: _department(facts), D.MARKET: facts.country}
        tier = (
            LevelKey(_dims({**base, D.TIER: facts.tier}), (), facts.owner) if facts.tier else None
        )
        tags = [
            LevelKey(_dims({**base, D.TIER: facts.tier}), (t,), facts.owner) for t in facts.tags
        ]
        return tier, tags

    def customer_changed(self, e: CustomerChanged) -> None:
        key = (e.seen.tenant_id, e.customer)
        old = self.customer(*key)
        new = old
        if e.snapshot is not None and e.snapshot.version > old.version:
            s = e.snapshot
            new = replace(
                old,
                version=s.version,
                owner=s.owner,
                department=s.department,
                tier=s.tier,
                country=s.country,
                tags=s.tags,
                stage=s.stage,
                deleted=s.deleted,
            )
        if e.event_type == "customer.created":
            self.emit_for_customer(
                e.seen, Measure.CUSTOMERS_CREATED, new, {}, subject=e.customer, customer=e.customer
            )
            if new.stage and old.stage_since is None:
                new = replace(new, stage_since=e.seen.at)
                self.emit_for_customer(
                    e.seen,
                    Measure.STAGE_ENTERED,
                    new,
                    {D.STAGE: new.stage},
                    subject=e.customer,
                    customer=e.customer,
                )
        elif e.event_type == "customer.tagged" and e.tags_added:
            self.emit_for_customer(
                e.seen,
                Measure.CUSTOMERS_TAGGED,
                new,
                {},
                subject=e.customer,
                customer=e.customer,
                count=e.tags_added,
            )
        elif e.event_type == "customer.stage_changed" and e.to_stage:
            if old.stage_since is not None and e.from_stage:
                self.emit_for_customer(
                    e.seen,
                    Measure.STAGE_SECONDS,
                    new,
                    {D.STAGE: e.from_stage},
                    subject=e.customer,
                    customer=e.customer,
                    value=max(0.0, (e.seen.at - old.stage_since).total_seconds()),
                    measured=True,
                )
            new = replace(new, stage_since=e.seen.at)
            self.emit_for_customer(
                e.seen,
                Measure.STAGE_ENTERED,
                new,
                {D.STAGE: e.to_stage},
                subject=e.customer,
                customer=e.customer,
            )
        if new is not old:
            old_tier, old_tags = self.customer_levels(old)
            new_tier, new_tags = self.customer_levels(new)
            self.move_level(
                e.seen,
                Measure.CUSTOMER_TIER,
                old_tier,
                new_tier,
                subject=e.customer,
                customer=e.customer,
            )
            kept = set(old_tags) & set(new_tags)
            for gone in [k for k in old_tags if k not in kept]:
                self.move_level(
                    e.seen,
                    Measure.CUSTOMER_TAG,
                    gone,
                    None,
                    subject=e.customer,
                    customer=e.customer,
                )
            for came in [k for k in new_tags if k not in kept]:
                self.move_level(
                    e.seen,
                    Measure.CUSTOMER_TAG,
                    None,
                    came,
                    subject=e.customer,
                    customer=e.customer,
                )
            self.p.customers[key] = new
            self.p.changed_customers.add(key)

    def order_recorded(self, e: OrderRecorded) -> None:
        cust = self.customer(e.seen.tenant_id, e.customer)
        extra = {D.CURRENCY: e.currency, D.STORE: e.store}
        self.emit_for_customer(
            e.seen,
            Measure.ORDER_VALUE,
            cust,
            extra,
            subject=e.order,
            customer=e.customer,
            value=e.amount,
        )
        if e.order_count == 1:
            self.emit_for_customer(
                e.seen,
                Measure.BUYING_CUSTOMERS,
                cust,
                extra,
                subject=e.order,
                customer=e.customer,
            )
        elif e.order_count == 2:
            self.emit_for_customer(
                e.seen,
                Measure.REPEAT_CUSTOMERS,
                cust,
                extra,
                subject=e.order,
                customer=e.customer,
            )

    # -- conversations -----------------------------------------------------------

    def status_level(self, conv: ConversationFacts, cust: CustomerFacts) -> LevelKey | None:
        if not conv.status:
            return None
        dims = self.conversation_dims(conv, cust)
        dims[D.OUTCOME] = conv.status
        return LevelKey(_dims(dims), cust.tags, cust.owner)

    def set_status(
        self, seen: Seen, conversation: str, conv: ConversationFacts, status: str
    ) -> None:
        cust = self.customer(seen.tenant_id, conv.customer)
        conv.status = status
        new = self.status_level(conv, cust)
        self.move_level(
            seen,
            Measure.CONVERSATION_STATUS,
            conv.level,
            new,
            subject=conversation,
            customer=conv.customer,
        )
        conv.level = new

    def conversation_opened(self, e: ConversationOpened) -> None:
        conv = self.conversation(e.seen.tenant_id, e.conversation, e.seen.at)
        conv.customer = e.customer or conv.customer
        conv.channel = e.channel or conv.channel
        conv.store = e.store or conv.store
        conv.language = e.language or conv.language
        conv.opened_at = e.seen.at
        cust = self.customer(e.seen.tenant_id, conv.customer)
        self.emit_conversation(e.seen, Measure.CONVERSATIONS_OPENED, e.conversation, conv, cust)
        if not conv.status:
            self.set_status(e.seen, e.conversation, conv, "UNREAD")

    def emit_conversation(
        self,
        seen: Seen,
        measure: Measure,
        subject: str,
        conv: ConversationFacts,
        cust: CustomerFacts,
        extra: Mapping[Dimension, str] | None = None,
        *,
        value: float = 0.0,
        measured: bool = False,
    ) -> None:
        dims = self.conversation_dims(conv, cust)
        dims.update(extra or {})
        self.emit(
            seen,
            measure,
            dims,
            subject=subject,
            customer=conv.customer,
            tags=cust.tags,
            owner=cust.owner,
            value=value,
            measured=measured,
        )

    def message_in(self, e: MessageIn) -> None:
        conv = self.conversation(e.seen.tenant_id, e.conversation, e.seen.at)
        conv.customer = e.customer or conv.customer
        conv.channel = conv.channel or e.channel
        conv.language = e.language or conv.language
        if conv.awaiting_since is None:
            conv.awaiting_since = e.seen.at
        cust = self.customer(e.seen.tenant_id, conv.customer)
        self.emit_conversation(e.seen, Measure.MESSAGES_IN, e.message, conv, cust)

    def message_out(self, e: MessageOut) -> None:
        conv = self.conversation(e.seen.tenant_id, e.conversation, e.seen.at)
        conv.customer = e.customer or conv.customer
        cust = self.customer(e.seen.tenant_id, conv.customer)
        if e.sent_by == SYSTEM_SENDER:
            # Messaging's own message (the CSAT invitation on close) answers no one: it
            # counts as sent, and neither as a reply nor as an agent's work.
            extra_system: dict[Dimension, str] = {D.OUTCOME: "system"}
            self.emit_conversation(
                e.seen, Measure.MESSAGES_OUT, e.message, conv, cust, extra_system
            )
            return
        by_rule = e.sent_by.startswith("rules/")
        who = "rule" if by_rule else "agent"
        extra: dict[Dimension, str] = {D.OUTCOME: who}
        if by_rule:
            extra[D.RULE] = e.sent_by
        elif e.sent_by:
            extra[D.AGENT] = e.sent_by
        self.emit_conversation(e.seen, Measure.MESSAGES_OUT, e.message, conv, cust, extra)
        if conv.awaiting_since is not None:
            waited = max(0.0, (e.seen.at - conv.awaiting_since).total_seconds())
            self.emit_conversation(
                e.seen,
                Measure.REPLY_SECONDS,
                e.message,
                conv,
                cust,
                extra,
                value=waited,
                measured=True,
            )
            if not conv.answered:
                self.emit_conversation(
                    e.seen,
                    Measure.FIRST_RESPONSE_SECONDS,
                    e.conversation,
                    conv,
                    cust,
                    extra,
                    value=waited,
                    measured=True,
                )
            conv.awaiting_since = None
        if not conv.answered:
            conv.answered = True
            conv.first_replier = who
            if by_rule:
                self.emit_conversation(
                    e.seen,
                    Measure.CONVERSATIONS_FIRST_ANSWERED_BY_RULE,
                    e.conversation,
                    conv,
                    cust,
                )
        if not by_rule and conv.first_replier == "rule" and not conv.agent_replied:
            self.emit_conversation(
                e.seen, Measure.CONVERSATIONS_TRANSFERRED, e.conversation, conv, cust
            )
        if by_rule:
            conv.rule_replied = True
        else:
            conv.agent_replied = True

    def conversation_assigned(self, e: ConversationAssigned) -> None:
        conv = self.conversation(e.seen.tenant_id, e.conversation, e.seen.at)
        conv.customer = e.customer or conv.customer
        conv.assignee = e.assignee
        conv.team = e.team
        cust = self.customer(e.seen.tenant_id, conv.customer)
        self.emit_conversation(e.seen, Measure.CONVERSATIONS_ASSIGNED, e.conversation, conv, cust)
        if conv.status:
            self.set_status(e.seen, e.conversation, conv, conv.status)

    def status_changed(self, e: ConversationStatusChanged) -> None:
        conv = self.conversation(e.seen.tenant_id, e.conversation, e.seen.at)
        conv.customer = e.customer or conv.customer
        cust = self.customer(e.seen.tenant_id, conv.customer)
        if e.to_status == "CLOSED" and conv.status != "CLOSED":
            opened = conv.opened_at or e.seen.at
            self.emit_conversation(
                e.seen,
                Measure.RESOLUTION_SECONDS,
                e.conversation,
                conv,
                cust,
                value=max(0.0, (e.seen.at - opened).total_seconds()),
                measured=True,
            )
            self.emit_conversation(e.seen, Measure.CONVERSATIONS_CLOSED, e.conversation, conv, cust)
            if conv.answered:
                self.emit_conversation(
                    e.seen, Measure.CONVERSATIONS_CLOSED_ANSWERED, e.conversation, conv, cust
                )
                if conv.rule_replied and not conv.agent_replied:
                    self.emit_conversation(
                        e.seen,
                        Measure.CONVERSATIONS_CLOSED_AUTOMATED,
                        e.conversation,
                        conv,
                        cust,
                    )
        elif conv.status == "CLOSED" and e.to_status != "CLOSED":
            # Reopened: a new cycle of answering and resolving starts.
            conv.opened_at = e.seen.at
            conv.answered = conv.agent_replied = conv.rule_replied = False
            conv.first_replier = ""
        self.set_status(e.seen, e.conversation, conv, e.to_status)

    # -- cases, CSAT, rules ---------------------------------------------------------

    def case_level(self, case: CaseFacts, cust: CustomerFacts) -> LevelKey | None:
        if not case.state:
            return None
        dims = self.customer_dims(cust)
        dims.update({D.CASE_TYPE: case.case_type, D.OUTCOME: case.state})
        return LevelKey(_dims(dims), cust.tags, cust.owner)

    def case_facts(self, seen: Seen, case: str) -> CaseFacts:
        key = (seen.tenant_id, case)
        facts = self.p.cases.get(key)
        if facts is None:
            facts = CaseFacts(opened_at=seen.at)
            self.p.cases[key] = facts
        self.p.changed_cases.add(key)
        return facts

    def move_case(self, seen: Seen, case_name: str, case: CaseFacts, state: str) -> None:
        case.state = state
        new = self.case_level(case, self.customer(seen.tenant_id, case.customer))
        self.move_level(
            seen, Measure.CASE_STATE, case.level, new, subject=case_name, customer=case.customer
        )
        case.level = new

    def case_opened(self, e: CaseOpened) -> None:
        case = self.case_facts(e.seen, e.case)
        case.customer = e.customer or case.customer
        case.case_type = e.case_type
        case.opened_at = e.seen.at
        case.amount = e.amount
        case.currency = e.currency
        cust = self.customer(e.seen.tenant_id, case.customer)
        self.emit_for_customer(
            e.seen,
            Measure.CASES_OPENED,
            cust,
            {D.CASE_TYPE: e.case_type},
            subject=e.case,
            customer=case.customer,
        )
        self.move_case(e.seen, e.case, case, "OPEN")

    def case_transitioned(self, e: CaseTransitioned) -> None:
        case = self.case_facts(e.seen, e.case)
        case.customer = e.customer or case.customer
        case.case_type = e.case_type or case.case_type
        cust = self.customer(e.seen.tenant_id, case.customer)
        extra = {D.CASE_TYPE: case.case_type}
        self.emit_for_customer(
            e.seen,
            Measure.CASE_TRANSITIONS,
            cust,
            {**extra, D.OUTCOME: e.to_state},
            subject=e.case,
            customer=case.customer,
        )
        if e.to_state == "REFUNDED" and case.amount:
            self.emit_for_customer(
                e.seen,
                Measure.REFUNDED_AMOUNT,
                cust,
                {**extra, D.CURRENCY: case.currency},
                subject=e.case,
                customer=case.customer,
                value=case.amount,
            )
        if e.to_state == "CLOSED" and case.opened_at is not None:
            self.emit_for_customer(
                e.seen,
                Measure.CASE_RESOLUTION_SECONDS,
                cust,
                extra,
                subject=e.case,
                customer=case.customer,
                value=max(0.0, (e.seen.at - case.opened_at).total_seconds()),
                measured=True,
            )
        self.move_case(e.seen, e.case, case, e.to_state)

    def csat_submitted(self, e: CsatSubmitted) -> None:
        conv = self.p.conversations.get((e.seen.tenant_id, e.conversation)) or ConversationFacts(
            customer=e.customer
        )
        cust = self.customer(e.seen.tenant_id, e.customer or conv.customer)
        dims = self.conversation_dims(conv, cust)
        dims[D.OUTCOME] = str(e.score)
        if e.assignee:
            dims[D.AGENT] = e.assignee
        self.emit(
            e.seen,
            Measure.CSAT_SCORE,
            dims,
            subject=e.survey,
            customer=e.customer,
            tags=cust.tags,
            owner=cust.owner,
            value=float(e.score),
            measured=True,
        )

    def rule_fired(self, e: RuleFired) -> None:
        cust = self.customer(e.seen.tenant_id, e.customer)
        self.emit_for_customer(
            e.seen, Measure.RULE_FIRED, cust, {D.RULE: e.rule}, subject=e.run, customer=e.customer
        )

    def rule_action_completed(self, e: RuleActionCompleted) -> None:
        dims = {D.RULE: e.rule, D.OUTCOME: e.outcome}
        self.emit(e.seen, Measure.RULE_ACTIONS_COMPLETED, dims, subject=e.run, customer="")
        if e.outcome == "SUCCEEDED":
            self.emit(e.seen, Measure.RULE_ACTIONS_SUCCEEDED, dims, subject=e.run, customer="")

    def rule_hour_counts(self, e: RuleHourCounts) -> None:
        dims = {D.RULE: e.rule}
        for measure, count in (
            (Measure.RULE_EVALUATED, e.evaluated),
            (Measure.RULE_MATCHED, e.matched),
        ):
            if count:
                self.emit(
                    e.seen, measure, dims, subject=e.rule, customer="", count=count, at=e.hour
                )
        for reason, count in e.suppressed:
            if count:
                self.emit(
                    e.seen,
                    Measure.RULE_SUPPRESSED,
                    {**dims, D.OUTCOME: reason},
                    subject=e.rule,
                    customer="",
                    count=count,
                    at=e.hour,
                )


def fold(events: Sequence[ObservedEvent], projections: Projections) -> list[Observation]:
    """The observations ``events`` make, in order; ``projections`` is updated in place."""
    folder = _Folder(projections)
    for event in events:
        match event:
            case CustomerChanged():
                folder.customer_changed(event)
            case OrderRecorded():
                folder.order_recorded(event)
            case ConversationOpened():
                folder.conversation_opened(event)
            case MessageIn():
                folder.message_in(event)
            case MessageOut():
                folder.message_out(event)
            case ConversationAssigned():
                folder.conversation_assigned(event)
            case ConversationStatusChanged():
                folder.status_changed(event)
            case CaseOpened():
                folder.case_opened(event)
            case CaseTransitioned():
                folder.case_transitioned(event)
            case CsatSubmitted():
                folder.csat_submitted(event)
            case RuleFired():
                folder.rule_fired(event)
            case RuleActionCompleted():
                folder.rule_action_completed(event)
            case RuleHourCounts():
                folder.rule_hour_counts(event)
            case _:
                pass
    return folder.out
