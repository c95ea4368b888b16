"""Bulk operations on customers: what to do, to whom, and how a job stores it.

A bulk operation acts on a list of customer ids or on every customer matching
a condition (a checked ``Node`` tree). Both are kept in the job's spec as
plain JSON, so a worker can run the job long after the request that started
it, without parsing the request again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from crosstalk_common.conditions.model import Group, Leaf, Node, Op
from crosstalk_common.errors import FieldViolation, InvalidArgument
from customers.domain.model import validate_reason, validate_score_delta

MAX_BULK_CUSTOMERS = 10_000


class BulkAction(Enum):
    ADD_TAGS = "add_tags"
    REMOVE_TAGS = "remove_tags"
    ADJUST_SCORE = "adjust_score"
    ASSIGN_OWNER = "assign_owner"
    BLACKLIST = "blacklist"


@dataclass(frozen=True)
class BulkOperation:
    """One change applied to each customer; only the fields of its action are used."""

    action: BulkAction
    tag_ids: tuple[str, ...] = ()
    delta: int = 0
    reason: str = ""
    owner_member_id: str = ""
    # "" keeps each customer's department.
    department_id: str = ""


@dataclass(frozen=True)
class BulkTarget:
    """Exactly one of: explicit customer ids (in order), or a condition."""

    customer_ids: tuple[str, ...] = ()
    condition: Node | None = None


def validate_operation(operation: BulkOperation) -> BulkOperation:
    """Checked and trimmed; field paths are those of StartBulkOperationRequest."""
    field = operation.action.value
    bad: list[FieldViolation] = []
    if operation.action in (BulkAction.ADD_TAGS, BulkAction.REMOVE_TAGS):
        if not operation.tag_ids:
            bad.append(FieldViolation(f"{field}.tags", "name at least one tag ('tags/{tag}')"))
        checked = replace(operation, tag_ids=tuple(dict.fromkeys(operation.tag_ids)))
    elif operation.action is BulkAction.ADJUST_SCORE:
        try:
            validate_score_delta(operation.delta, field_name=f"{field}.delta")
        except InvalidArgument as exc:
            bad.extend(exc.violations)
        reason = _checked_reason(operation.reason, f"{field}.reason", bad)
        checked = BulkOperation(operation.action, delta=operation.delta, reason=reason)
    elif operation.action is BulkAction.ASSIGN_OWNER:
        if not operation.owner_member_id:
            bad.append(
                FieldViolation(f"{field}.owner", "the new owner is required ('members/{member}')")
            )
        checked = BulkOperation(
            operation.action,
            owner_member_id=operation.owner_member_id,
            department_id=operation.department_id,
        )
    else:
        reason = _checked_reason(operation.reason, f"{field}.reason", bad)
        checked = BulkOperation(operation.action, reason=reason)
    if bad:
        raise InvalidArgument(bad)
    return checked


def validate_target(target: BulkTarget) -> BulkTarget:
    """Exactly one of ids and condition; at most MAX_BULK_CUSTOMERS ids, each once."""
    if target.customer_ids and target.condition is not None:
        raise InvalidArgument(
            [FieldViolation("customers", "set either customers or condition, not both")]
        )
    if not target.customer_ids and target.condition is None:
        raise InvalidArgument(
            [FieldViolation("customers", "name the customers, or set a condition instead")]
        )
    if len(target.customer_ids) > MAX_BULK_CUSTOMERS:
        raise InvalidArgument(
            [
                FieldViolation(
                    "customers",
                    f"at most {MAX_BULK_CUSTOMERS:,} customers, got {len(target.customer_ids):,}; "
                    "use a condition for more",
                )
            ]
        )
    return BulkTarget(tuple(dict.fromkeys(target.customer_ids)), target.condition)


def _checked_reason(reason: str, field: str, bad: list[FieldViolation]) -> str:
    try:
        return validate_reason(reason, field_name=field, required=True)
    except InvalidArgument as exc:
        bad.extend(exc.violations)
        return reason


def describe(operation: BulkOperation, count: int, tag_labels: dict[str, str]) -> str:
    """One line for people: "Add tag VIP to 1,204 customers"."""
    who = f"{count:,} customer" + ("" if count == 1 else "s")
    labels = [tag_labels.get(t, f"tags/{t}") for t in operation.tag_ids]
    tags = ("tag " if len(labels) == 1 else "tags ") + ", ".join(labels)
    if operation.action is BulkAction.ADD_TAGS:
        return f"Add {tags} to {who}"
    if operation.action is BulkAction.REMOVE_TAGS:
        return f"Remove {tags} from {who}"
    if operation.action is BulkAction.ADJUST_SCORE:
        return f"Adjust the score of {who} by {operation.delta:+d}"
    if operation.action is BulkAction.ASSIGN_OWNER:
        return f"Assign {who} to members/{operation.owner_member_id}"
    return f"Blacklist {who}"


# --- the job spec as JSON -----------------------------------------------------


def spec_to_json(operation: BulkOperation, target: BulkTarget) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operation": {
            "action": operation.action.value,
            "tags": list(operation.tag_ids),
            "delta": operation.delta,
            "reason": operation.reason,
            "owner": operation.owner_member_id,
            "department": operation.department_id,
        }
    }
    if target.condition is not None:
        spec["condition"] = node_to_json(target.condition)
    else:
        spec["customer_ids"] = list(target.customer_ids)
    return spec


def spec_from_json(spec: dict[str, Any]) -> tuple[BulkOperation, BulkTarget]:
    op = spec["operation"]
    operation = BulkOperation(
        action=BulkAction(op["action"]),
        tag_ids=tuple(op.get("tags", ())),
        delta=int(op.get("delta", 0)),
        reason=str(op.get("reason", "")),
        owner_member_id=str(op.get("owner", "")),
        department_id=str(op.get("department", "")),
    )
    if "condition" in spec:
        return operation, BulkTarget(condition=node_from_json(spec["condition"]))
    return operation, BulkTarget(customer_ids=tuple(spec.get("customer_ids", ())))


def node_to_json(node: Node) -> dict[str, Any]:
    if isinstance(node, Leaf):
        return {
            "field": node.field,
            "op": node.operator.value,
            "values": [_value_to_json(v) for v in node.values],
            "fuzzy": node.fuzzy,
        }
    return {"group": node.op, "children": [node_to_json(c) for c in node.children]}


def node_from_json(data: dict[str, Any]) -> Node:
    if "group" in data:
        return Group(data["group"], tuple(node_from_json(c) for c in data["children"]))
    return Leaf(
        data["field"],
        Op(data["op"]),
        tuple(_value_from_json(v) for v in data["values"]),
        fuzzy=bool(data.get("fuzzy", False)),
    )


def _value_to_json(value: Any) -> dict[str, Any]:
    # bool before number: a bool is an int in Python.
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int | float):
        return {"number": value}
    if isinstance(value, datetime):
        return {"time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    return {"text": str(value)}


def _value_from_json(data: dict[str, Any]) -> Any:
    if "bool" in data:
        return bool(data["bool"])
    if "number" in data:
        return data["number"]
    if "time" in data:
        return datetime.fromisoformat(data["time"])
    if "seconds" in data:
        return timedelta(seconds=data["seconds"])
    return str(data["text"])
