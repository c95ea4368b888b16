"""The use cases' domain events become the contract's event protos (adapters/mapping.event_pb),
the same protos the use cases built themselves before."""

from __future__ import annotations

from dataclasses import replace

import pytest

from crosstalk.events.v1 import translation_events_pb2
from tests.event_mapping import assert_same_event
from translation.adapters.mapping import event_pb
from translation.domain.events import TranslationCompleted

BY_ENGINE = TranslationCompleted(
    engine="argos",
    source_language="de",
    target_language="en",
    characters=42,
    latency_ms=17,
    memory_hit=False,
    glossary_term_count=2,
)


def test_translation_completed_maps_to_its_proto() -> None:
    assert_same_event(
        event_pb(BY_ENGINE),
        translation_events_pb2.TranslationCompleted(
            engine="engines/argos",
            source_language="de",
            target_language="en",
            characters=42,
            latency_ms=17,
            glossary_term_count=2,
        ),
    )


def test_a_memory_hit_names_no_engine() -> None:
    from_memory = replace(BY_ENGINE, latency_ms=0, memory_hit=True, glossary_term_count=0)
    assert_same_event(
        event_pb(from_memory),
        translation_events_pb2.TranslationCompleted(
            source_language="de", target_language="en", characters=42, memory_hit=True
        ),
    )


def test_a_proto_is_staged_as_it_is_and_anything_else_is_refused() -> None:
    completed = translation_events_pb2.TranslationCompleted(engine="engines/argos")
    assert event_pb(completed) is completed
    with pytest.raises(TypeError):
        event_pb("translation.completed")  # type: ignore[arg-type]
