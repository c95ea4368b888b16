"""Condition trees shared by customers' filters, segments and rules.

``model`` and ``evaluate`` are pure Python; ``parse`` reads the protobuf
message; ``sql`` compiles to SQLAlchemy. Import what you need from them.
"""

from crosstalk_common.conditions.model import (
    DEFAULT_OPERATORS,
    FieldSpec,
    FieldType,
    Group,
    Leaf,
    Node,
    Op,
    field_specs,
    iter_leaves,
)

__all__ = [
    "DEFAULT_OPERATORS",
    "FieldSpec",
    "FieldType",
    "Group",
    "Leaf",
    "Node",
    "Op",
    "field_specs",
    "iter_leaves",
]
