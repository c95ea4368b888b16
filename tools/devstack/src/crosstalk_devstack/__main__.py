"""`python -m crosstalk_devstack run`: everything up on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

import httpx

from crosstalk_devstack.demo import login, seed_demo
from crosstalk_devstack.demo_mailbox import DEFAULT_PORT, DemoMailbox
from crosstalk_devstack.stack import REPO_ROOT, Stack, StackConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crosstalk_devstack")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--var-dir", type=Path, default=REPO_ROOT / "var")
    parser.add_argument("--gateway-port", type=int, default=8080)
    parser.add_argument("--smtp-port", type=int, default=DEFAULT_PORT, help="the demo mailbox")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    var_dir = args.var_dir.resolve()
    mailbox: DemoMailbox | None = None
    stack = Stack(
        StackConfig(
            var_dir=var_dir,
            gateway_port=args.gateway_port,
            # The services may reach the demo mailbox, and nothing else on this machine.
            egress_allow=f"127.0.0.1:{args.smtp_port}",
        )
    )
    print("starting NATS, identity, customers, rules, translation, messaging, reporting, Envoy ...")
    try:
        mailbox = DemoMailbox(var_dir / "mail", args.smtp_port).start()
    except Exception as exc:  # the port is taken: run without it
        print(
            f"demo mailbox not started on 127.0.0.1:{args.smtp_port} ({exc});"
            " replies by e-mail will fail"
        )
    try:
        stack.start()
    except BaseException:
        if mailbox is not None:
            mailbox.stop()
        raise
    try:
        demo = seed_demo(
            stack.config.gateway_url, stack.config.var_dir / "demo.json", args.smtp_port
        )
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
            + (
                f"  demo mailbox: replies to e-mail conversations land in {mailbox.directory}"
                f" (SMTP 127.0.0.1:{mailbox.port})\n"
                if mailbox is not None
                else ""
            )
            + f"  logs: {stack.config.var_dir / 'logs'}\n"
            f"Ctrl-C stops everything.",
            flush=True,
        )
        stop.wait()
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()
        if mailbox is not None:
            mailbox.stop()
        print("stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
