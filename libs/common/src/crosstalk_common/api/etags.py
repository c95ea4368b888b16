"""Optimistic concurrency (AIP-154): a write that names an etag applies only to that version."""

from __future__ import annotations

from crosstalk_common.errors import Aborted


def check_etag(etag: str, current: str, resource_name: str) -> None:
    """ABORTED (``ETAG_MISMATCH``) when the caller sent an etag that is no longer current.

    An empty ``etag`` means the caller did not ask for the check.
    """
    if etag and etag != current:
        raise Aborted.etag_mismatch(resource_name)
