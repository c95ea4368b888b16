"""AIP-134 update masks: which fields an Update request may change.

``populated_fields`` (defined in ``crosstalk_common.api.proto_fields`` and
re-exported here) lists the fields set on a message, for the "no mask" case.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.errors import FieldViolation, InvalidArgument

__all__ = ["WILDCARD", "populated_fields", "resolve_update_paths"]

WILDCARD = "*"


def resolve_update_paths(
    mask_paths: Sequence[str],
    *,
    populated: Iterable[str],
    updatable: Collection[str],
    field: str = "update_mask",
) -> list[str]:
    """The field paths an update should write.

    * no paths: the populated fields that are updatable (AIP-134: an omitted
      mask means "the fields set in the request"); others, such as ``name``,
      are identifiers or output only and are ignored;
    * ``"*"`` alone: every updatable field (full replacement);
    * otherwise the listed paths, each of which must be updatable, else
      INVALID_ARGUMENT on ``field`` naming every bad path.

    The result has no duplicates and keeps the order of the input.
    """
    allowed = _ordered(updatable)
    if not mask_paths:
        return [path for path in dict.fromkeys(populated) if path in updatable]
    paths = [path.strip() for path in mask_paths]
    if WILDCARD in paths:
        if len(paths) != 1:
            raise InvalidArgument.field(field, '"*" must be the only path of the mask')
        return allowed
    violations = [
        FieldViolation(field, _describe_bad_path(path, allowed))
        for path in dict.fromkeys(paths)
        if path not in updatable
    ]
    if violations:
        raise InvalidArgument(violations)
    return list(dict.fromkeys(paths))


def _ordered(updatable: Collection[str]) -> list[str]:
    # Sets iterate in a different order in every process: sort them.
    return list(updatable) if isinstance(updatable, Sequence) else sorted(updatable)


def _describe_bad_path(path: str, allowed: Sequence[str]) -> str:
    choices = ", ".join(allowed) or "none"
    if not path:
        return f"contains an empty path; updatable fields: {choices}"
    return f"{path!r} cannot be updated; updatable fields: {choices}"
