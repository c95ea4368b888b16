"""Connecting to NATS and provisioning JetStream streams."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from datetime import timedelta

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from crosstalk_common.bus.catalogue import stream_name, stream_subjects

log = logging.getLogger(__name__)

# Publishing the same event id twice within this window stores it once.
DUPLICATE_WINDOW_SECONDS = 300.0
# How long a stream keeps events (so: the longest a redelivery can come late).
STREAM_MAX_AGE = timedelta(days=7)


async def connect(url: str, *, name: str) -> Client:
    """A client that keeps reconnecting for as long as the process lives."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    return await nats.connect(
        servers=[url],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


def stream_replicas(environ: Mapping[str, str] | None = None) -> int:
    """How many copies a NATS cluster keeps of each stream (``NATS_STREAM_REPLICAS``,
    1 by default: a single server). A cluster of three runs with 3."""
    text = (os.environ if environ is None else environ).get("NATS_STREAM_REPLICAS", "1")
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise ValueError(f"NATS_STREAM_REPLICAS must be 1 to 5, got {text!r}")
    return int(text)


def stream_config(producer: str) -> StreamConfig:
    return StreamConfig(
        num_replicas=stream_replicas(),
        name=stream_name(producer),
        subjects=stream_subjects(producer),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=STREAM_MAX_AGE.total_seconds(),
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )


async def ensure_streams(js: JetStreamContext, producers: Iterable[str]) -> None:
    """Create (or bring up to date) the stream of each producer; idempotent."""
    for producer in producers:
        config = stream_config(producer)
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await js.add_stream(config)
                continue
            except BadRequestError:
                # Created concurrently by another service: fall through to update.
                pass
        await js.update_stream(config)
