from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider

from crosstalk_common.logging import JsonFormatter, configure_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_root_logger")
def test_json_lines_on_stderr_with_trace_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("customers", "debug")
    configure_logging("customers", "INFO")  # idempotent: still one handler, new level
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(ours) == 1
    log = logging.getLogger("customers.app")
    log.debug("hidden")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("ingest") as span:
        log.info("customer %s merged", "customers/1", extra={"tenant": "t-1", "count": 2})
        context = span.get_span_context()
    log.warning("outside any span")

    first, second = _lines(capsys.readouterr().err)
    assert first["message"] == "customer customers/1 merged"
    assert first["level"] == "INFO"
    assert first["logger"] == "customers.app"
    assert first["service"] == "customers"
    assert first["tenant"] == "t-1"
    assert first["count"] == 2
    assert first["trace_id"] == f"{context.trace_id:032x}"
    assert first["span_id"] == f"{context.span_id:016x}"
    assert len(str(first["trace_id"])) == 32
    assert len(str(first["span_id"])) == 16
    time = str(first["time"])
    assert time.endswith("Z")
    assert datetime.fromisoformat(time).utcoffset() is not None
    assert "trace_id" not in second


@pytest.mark.usefixtures("restore_root_logger")
def test_exceptions_are_rendered_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("rules")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("rules").exception("failed", extra={"message_id": "m-1", "level": "x"})
    [entry] = _lines(capsys.readouterr().err)
    assert entry["message"] == "failed"
    assert "RuntimeError: boom" in str(entry["exc_info"])
    assert "Traceback" in str(entry["exc_info"])
    assert entry["message_id"] == "m-1"
    assert entry["level"] == "ERROR"
    assert entry["extra_level"] == "x"


def test_formatter_copes_with_values_json_cannot_encode() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    record.when = datetime(2024, 1, 1)
    entry = json.loads(JsonFormatter("svc").format(record))
    assert entry["when"] == "2024-01-01 00:00:00"


def test_unknown_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("svc", "LOUD")
