"""The use cases' domain events become the contract's event protos (adapters/mapping.event_pb),
the same protos the use cases built themselves before."""

from __future__ import annotations

import pytest

from crosstalk.events.v1 import translation_events_pb2
from translation.adapters.mapping import event_pb
from translation.domain.events import TranslationCompleted


@pytest.mark.parametrize(
    ("event", "proto"),
    [
        (
            TranslationCompleted(
                engine="argos",
                source_language="de",
                target_language="en",
                characters=42,
                latency_ms=17,
                memory_hit=False,
                glossary_term_count=2,
            ),
            translation_events_pb2.TranslationCompleted(
                engine="engines/argos",
                source_language="de",
                target_language="en",
                characters=42,
                latency_ms=17,
                memory_hit=False,
                glossary_term_count=2,
            ),
        ),
        (
            # a memory hit names no engine
            TranslationCompleted(
                engine="argos",
                source_language="de",
                target_language="en",
                characters=42,
                latency_ms=0,
                memory_hit=True,
                glossary_term_count=0,
            ),
            translation_events_pb2.TranslationCompleted(
                engine="",
                source_language="de",
                target_language="en",
                characters=42,
                latency_ms=0,
                memory_hit=True,
                glossary_term_count=0,
            ),
        ),
    ],
)
def test_translation_completed_maps_to_its_proto(
    event: TranslationCompleted, proto: translation_events_pb2.TranslationCompleted
) -> None:
    mapped = event_pb(event)
    assert mapped == proto
    assert mapped.SerializeToString(deterministic=True) == proto.SerializeToString(
        deterministic=True
    )


def test_a_proto_is_staged_as_it_is_and_anything_else_is_refused() -> None:
    completed = translation_events_pb2.TranslationCompleted(engine="engines/argos")
    assert event_pb(completed) is completed
    with pytest.raises(TypeError):
        event_pb("translation.completed")  # type: ignore[arg-type]
