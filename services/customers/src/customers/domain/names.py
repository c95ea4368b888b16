"""The resource names (AIP-122) of a customer and their orders, as the API spells them."""

from __future__ import annotations

CUSTOMER = "crosstalk.io/Customer"
ORDER = "crosstalk.io/Order"


def customer_name(customer_id: str) -> str:
    return f"customers/{customer_id}"


def order_name(customer_id: str, order_id: str) -> str:
    return f"customers/{customer_id}/orders/{order_id}"
