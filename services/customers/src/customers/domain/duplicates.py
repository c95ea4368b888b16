"""Duplicate suggestions: customers that share a normalized email or phone.

Each customer's emails and phones are kept as contact keys (kind, value):
emails lowercased, phones as digits with a leading '+' kept. Customers that
share a key are a candidate group; the suggestion lists them most complete
first, with the kinds of key they all share:

* the same email: confidence 0.95;
* the same phone: confidence 0.85;
* the same email and the same phone: confidence 1.0.

A value held by more than MAX_GROUP_SIZE customers is a placeholder (a shop's
relay address, "000000"), not a person, and is never suggested. A group of
customers is suggested once, at the smallest key that exactly they hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from customers.domain.merging import normalized_email, normalized_phone

EMAIL = "email"
PHONE = "phone"
MAX_GROUP_SIZE = 20
MIN_PHONE_DIGITS = 6
MAX_KEY_LENGTH = 320
_CONFIDENCE = {
    frozenset({EMAIL, PHONE}): 1.0,
    frozenset({EMAIL}): 0.95,
    frozenset({PHONE}): 0.85,
}

# (kind, value), e.g. ("email", "anna@example.com").
ContactKey = tuple[str, str]


def contact_keys(emails: Iterable[str], phones: Iterable[str]) -> frozenset[ContactKey]:
    keys: set[ContactKey] = set()
    for email in emails:
        value = normalized_email(email)
        if "@" in value and len(value) <= MAX_KEY_LENGTH:
            keys.add((EMAIL, value))
    for phone in phones:
        value = normalized_phone(phone)
        if MIN_PHONE_DIGITS <= len(value.lstrip("+")) < MAX_KEY_LENGTH:
            keys.add((PHONE, value))
    return frozenset(keys)


def confidence(kinds: frozenset[str]) -> float:
    return _CONFIDENCE.get(kinds, 0.0)


@dataclass(frozen=True)
class Candidate:
    """Customers (in the reader's scope) holding one contact key."""

    key: ContactKey
    customer_ids: tuple[str, ...]


@dataclass(frozen=True)
class MemberProfile:
    """What makes a customer more complete than another: filled attributes."""

    customer_id: str
    created_at: datetime
    values: Mapping[str, object]

    @property
    def filled(self) -> int:
        """Filled attributes; each email, phone or custom field value counts once."""
        return sum(
            len(value) if isinstance(value, list | tuple | dict) else 1
            for value in self.values.values()
            if value
        )


@dataclass(frozen=True)
class DuplicateSuggestion:
    customer_ids: tuple[str, ...]
    matched_fields: tuple[str, ...]
    confidence: float


def suggestion(
    candidate: Candidate,
    keys_of: Mapping[str, frozenset[ContactKey]],
    holders: Mapping[ContactKey, int],
    profiles: Mapping[str, MemberProfile],
) -> DuplicateSuggestion | None:
    """The suggestion made at this candidate's key, or None when the same
    customers are suggested at a smaller key.

    keys_of: each member's contact keys; holders: how many customers in scope
    hold each key the members all share.
    """
    members = candidate.customer_ids
    shared = frozenset.intersection(*(keys_of.get(m, frozenset()) for m in members))
    shared |= {candidate.key}
    exactly_these = [k for k in shared if k == candidate.key or holders.get(k) == len(members)]
    if min(exactly_these) != candidate.key:
        return None
    kinds = frozenset(kind for kind, _ in shared)
    return DuplicateSuggestion(
        customer_ids=_most_complete_first(members, profiles),
        matched_fields=tuple(sorted(kinds)),
        confidence=confidence(kinds),
    )


def _most_complete_first(
    members: Sequence[str], profiles: Mapping[str, MemberProfile]
) -> tuple[str, ...]:
    def rank(customer_id: str) -> tuple[int, str, str]:
        profile = profiles.get(customer_id)
        if profile is None:
            return (0, "", customer_id)
        return (-profile.filled, profile.created_at.isoformat(), customer_id)

    return tuple(sorted(members, key=rank))
