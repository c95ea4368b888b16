"""Resource names (AIP-122) read back into ids: ``"customers/abc"`` -> ``"abc"``.

A name that does not follow its pattern answers INVALID_ARGUMENT naming the
request field it came in, so a caller knows which value to fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from crosstalk_common.errors import FieldViolation, InvalidArgument


def resource_id(
    name: str,
    collection: str,
    *,
    field: str = "name",
    id_pattern: re.Pattern[str] | None = None,
) -> str:
    """The id of ``"{collection}/{id}"``; ``id_pattern``, when given, must match the whole id."""
    (found,) = resource_ids_of(name, f"{collection}/{{id}}", field=field, id_pattern=id_pattern)
    return found


def names_one(name: str, collection: str, *, id_pattern: re.Pattern[str] | None = None) -> bool:
    """Whether ``name`` is ``"{collection}/{id}"`` (as ``resource_id`` reads it),
    for a caller that gathers violations rather than raising the first."""
    return _ids_of(name, f"{collection}/{{id}}", id_pattern) is not None


def optional_resource_id(name: str, collection: str, *, field: str) -> str:
    """As ``resource_id``, but an empty name (the field left out) gives ``""``."""
    return resource_id(name, collection, field=field) if name else ""


def resource_ids(
    names: Sequence[str], collection: str, *, field: str, most_violations: int | None = None
) -> tuple[str, ...]:
    """The ids of a repeated field; every bad name is reported as ``field[i]``.

    ``most_violations`` stops the reading once that many bad names are found.
    """
    ids: list[str] = []
    bad: list[FieldViolation] = []
    for i, name in enumerate(names):
        found = _ids_of(name, f"{collection}/{{id}}", None)
        if found is None:
            bad.append(_violation(f"{field}[{i}]", f"{collection}/{{id}}"))
            if most_violations is not None and len(bad) >= most_violations:
                break
        else:
            ids.append(found[0])
    if bad:
        raise InvalidArgument(bad)
    return tuple(ids)


def resource_ids_of(
    name: str,
    pattern: str,
    *,
    field: str = "name",
    id_pattern: re.Pattern[str] | None = None,
) -> tuple[str, ...]:
    """The ids a pattern's ``{variables}`` stand for, in order.

    ``resource_ids_of("members/m1/sessions/s2", "members/{member}/sessions/{session}")``
    is ``("m1", "s2")``; an id is never empty and never holds a ``/``.
    """
    found = _ids_of(name, pattern, id_pattern)
    if found is None:
        raise InvalidArgument(_violation(field, pattern))
    return found


def _ids_of(name: str, pattern: str, id_pattern: re.Pattern[str] | None) -> tuple[str, ...] | None:
    wanted = pattern.split("/")
    given = name.split("/")
    if len(given) != len(wanted):
        return None
    ids: list[str] = []
    for want, part in zip(wanted, given, strict=True):
        if want.startswith("{"):
            if not part or (id_pattern is not None and id_pattern.fullmatch(part) is None):
                return None
            ids.append(part)
        elif part != want:
            return None
    return tuple(ids)


def _violation(field: str, pattern: str) -> FieldViolation:
    return FieldViolation(field, f"must look like '{pattern}'")
