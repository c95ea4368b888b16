"""Other services' admin-relevant events, recorded in the audit log.

The event catalogue has two such events today: customer.merged and
customer.blacklisted. (rules publishes rule.fired and rule.action.*, which are
automation at work rather than admin actions, and no rule.created/changed
event exists yet: subscribe to it here once it does.)
"""

from __future__ import annotations

from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.adapters.mapping import audit_entry_for
from identity.app.audit import record_audit_entry
from identity.app.ports import UnitOfWork

CUSTOMER_ADMIN_EVENTS = Subscription(
    durable="identity-audit-customers",
    producer="customers",
    event_types=["customer.merged", "customer.blacklisted"],
)


async def on_customer_admin_event(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
    """customer.merged, customer.blacklisted: an audit entry."""
    entry = audit_entry_for(event)
    if entry is not None:
        await record_audit_entry(new_uow, entry)
