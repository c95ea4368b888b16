"""Which fields of a protobuf message are set."""

from __future__ import annotations

from google.protobuf.message import Message


def populated_fields(message: Message) -> list[str]:
    """Top-level fields set on ``message``, in field-number order.

    Proto3 scalars without ``optional`` count as set only when they differ
    from their default (``""``, ``0``, ``false``): that is how AIP-134 reads
    an Update request that has no update mask.
    """
    return [descriptor.name for descriptor, _ in message.ListFields()]
