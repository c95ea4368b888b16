"""`python -m crosstalk_devstack run`: everything up on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

import httpx

from crosstalk_devstack.demo import login, seed_demo
from crosstalk_devstack.stack import REPO_ROOT, Stack, StackConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crosstalk_devstack")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--var-dir", type=Path, default=REPO_ROOT / "var")
    parser.add_argument("--gateway-port", type=int, default=8080)
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    stack = Stack(StackConfig(var_dir=args.var_dir.resolve(), gateway_port=args.gateway_port))
    print("starting NATS, identity, customers, rules, translation, messaging, reporting, Envoy ...")
    stack.start()
    try:
        demo = seed_demo(stack.config.gateway_url, stack.config.var_dir / "demo.json")
        url = stack.config.gateway_url
        with httpx.Client(base_url=url, timeout=10) as http:
            token = login(http, demo["email"], demo["password"])
        print(
            f"\nCrosstalk is up.\n"
            f"  gateway (REST, gRPC, gRPC-Web): {url}\n"
            f"  demo login: {demo['email']} / {demo['password']}\n"
            f"  sign in: curl -s -X POST {url}/v1/auth:login"
            f' -d \'{{"email": "{demo["email"]}", "password": "{demo["password"]}"}}\'\n'
            f"  an access token for the next 15 minutes:\n    {token}\n"
            f"  try: curl -s -H 'authorization: Bearer <token>' {url}/v1/dashboard\n"
            f"  logs: {stack.config.var_dir / 'logs'}\n"
            f"Ctrl-C stops everything.",
            flush=True,
        )
        stop.wait()
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()
        print("stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
