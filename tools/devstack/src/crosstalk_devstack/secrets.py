"""The dev stack's key-encryption keys: one per service, kept under ``<var>/secrets``.

Generated on first use and reused afterwards (the sealed secrets in the
databases under the same ``var`` need the same KEK). A KEK set in the
environment (``<SERVICE>_KEK``) wins. Never use these outside a dev machine.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path


def dev_kek(var_dir: Path, service: str) -> str:
    """``<id>:<base64>`` of the service's dev KEK, created (mode 0600) if missing."""
    path = var_dir / "secrets" / f"{service}.kek"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        # The format crosstalk_common.secrets.Kek.parse reads: "<id>:<32 bytes, base64>".
        text = f"dev-{service}:{base64.b64encode(os.urandom(32)).decode()}"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(text + "\n")
    return path.read_text().strip()
