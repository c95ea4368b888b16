"""JetStream messages for tests that hand events to an ``EventConsumer`` without a server.

``EventConsumer.process`` reads a message's data, subject and headers and acks
it; a test asserts every delivery was acked once, and a nak or term (the event
failed, or could not be read) fails the test where it happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crosstalk.events.v1 import envelope_pb2


@dataclass
class Delivery:
    """One JetStream message as the consumer sees it."""

    data: bytes
    subject: str
    headers: dict[str, str] = field(default_factory=dict)
    acked: int = 0

    @classmethod
    def of(cls, envelope: envelope_pb2.EventEnvelope) -> Delivery:
        """The envelope as its producer publishes it, on its subject (the subject
        crosstalk_common.bus.catalogue.subject_for names)."""
        subject = f"crosstalk.{envelope.producer}.{envelope.type}"
        return cls(envelope.SerializeToString(), subject)

    async def ack(self) -> None:
        self.acked += 1

    async def nak(self, delay: float | None = None) -> None:
        raise AssertionError("the event failed")

    async def term(self) -> None:
        raise AssertionError("the event was undecodable")
