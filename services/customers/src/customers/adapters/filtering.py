"""Reading a customer filter from its proto: checked against the tenant's fields and limit."""

from __future__ import annotations

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.conditions.model import Node
from crosstalk_common.conditions.parse import parse_condition
from customers.app.search import CustomerSearch
from customers.domain.filter_fields import bare_reference_values


async def parse_customer_filter(
    search: CustomerSearch,
    tenant_id: str,
    condition: condition_pb2.Condition,
    *,
    field_path: str = "condition",
    in_memory: bool = False,
) -> Node | None:
    """The parsed filter, or None when ``condition`` is unset (every customer).

    Bad fields, operators or values, and more leaves than the tenant allows,
    raise InvalidArgument naming the condition's path. ``in_memory`` is for
    conditions evaluated on one customer at a time (tier rules): it leaves
    out the multi-valued fields that only SQL filters handle.
    """
    if condition.WhichOneof("node") is None:
        return None
    fields, limit = await search.filter_fields(tenant_id, in_memory=in_memory)
    node = parse_condition(
        condition, fields, max_conditions=limit, field_path=field_path, allow_fuzzy=False
    )
    return None if node is None else bare_reference_values(node)
