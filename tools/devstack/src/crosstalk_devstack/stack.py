"""The whole platform on one machine: NATS, six services and Envoy.

Used by `make run`, by the end-to-end and reliability tests and by the
benches. Every process listens on 127.0.0.1; logs go to ``<var>/logs``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crosstalk_devstack.nats import start_nats
from crosstalk_devstack.ports import free_port
from crosstalk_devstack.secrets import dev_kek
from crosstalk_gateway.generate import write_envoy_config
from crosstalk_gateway.process import start_envoy, wait_ready
from crosstalk_gateway.settings import GatewaySettings, load_settings

SERVICES = ("identity", "customers", "rules", "translation", "messaging", "reporting")
PEERS = {"messaging": ("customers", "translation"), "rules": ("customers", "messaging")}
REPO_ROOT = Path(__file__).resolve().parents[4]


@dataclass
class StackConfig:
    var_dir: Path
    gateway_port: int = 8080
    admin_port: int = 9901
    nats_port: int = 14222
    jwks_port: int = 50151
    service_ports: dict[str, int] = field(
        default_factory=lambda: {s: 50051 + i for i, s in enumerate(SERVICES)}
    )
    database_urls: dict[str, str] = field(default_factory=dict)
    otlp_endpoint: tuple[str, int] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    # Replaces gateway.yaml's rate_limit section (same shape) when set.
    gateway_rate_limit: Mapping[str, Any] | None = None
    # JetStream's file storage limit in bytes (nats-server's max_file_store); None: no limit.
    nats_max_file_store: int | None = None
    # CROSSTALK_EGRESS_ALLOW: what tenants' webhooks and SMTP hosts may reach besides
    # public addresses. Nothing for `make run` (the gateway's admin port and every
    # service listen on loopback); tests' stacks allow loopback for their receivers.
    egress_allow: str = ""

    @classmethod
    def on_free_ports(cls, var_dir: Path, **kwargs: object) -> StackConfig:
        return cls(
            var_dir=var_dir,
            gateway_port=free_port(),
            admin_port=free_port(),
            nats_port=free_port(),
            jwks_port=free_port(),
            service_ports={s: free_port() for s in SERVICES},
            **{"egress_allow": "127.0.0.0/8,::1", **kwargs},  # type: ignore[arg-type]
        )

    def database_url(self, service: str) -> str:
        return self.database_urls.get(service, f"sqlite:///{self.var_dir / 'db' / service}.db")

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.service_ports[service]}"


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs = config.var_dir / "logs"
        self._base_id = free_port()  # any number unique on this machine for Envoy's shared memory

    # -- lifecycle ---------------------------------------------------------
    def start(self, *, timeout: float = 180.0) -> None:
        self._logs.mkdir(parents=True, exist_ok=True)
        (self.config.var_dir / "db").mkdir(parents=True, exist_ok=True)
        try:
            self.start_nats()
            for service in SERVICES:
                self.start_service(service, wait=False)
            for service in SERVICES:
                self.wait_serving(service, timeout)
            self.start_gateway(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM everything (gateway first, NATS last) and wait for each to exit."""
        order = ["gateway", *reversed(SERVICES), "nats"]
        for name in order:
            self.stop_process(name)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- processes ---------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str], env: Mapping[str, str] | None = None) -> None:
        log = (self._logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(env or os.environ), cwd=REPO_ROOT
        )
        log.close()

    def start_nats(self) -> None:
        self.procs["nats"] = start_nats(
            self.config.nats_port,
            self.config.var_dir / "nats",
            self._logs / "nats.log",
            max_file_store=self.config.nats_max_file_store,
        )

    def service_env(self, service: str) -> dict[str, str]:
        cfg = self.config
        prefix = service.upper()
        env = {
            **os.environ,
            f"{prefix}_PORT": str(cfg.service_ports[service]),
            f"{prefix}_DATABASE_URL": cfg.database_url(service),
            "NATS_URL": cfg.nats_url,
            "CROSSTALK_VAR_DIR": str(cfg.var_dir),
            "CROSSTALK_LOG_LEVEL": cfg.log_level,
            "OTEL_SERVICE_NAME": service,
            "CROSSTALK_EGRESS_ALLOW": cfg.egress_allow,
            **cfg.extra_env,
        }
        for peer in ("identity", *PEERS.get(service, ())):
            env[f"{peer.upper()}_ADDRESS"] = cfg.address(peer)
        if service == "identity":
            env["IDENTITY_JWKS_PORT"] = str(cfg.jwks_port)
            env.setdefault("IDENTITY_KEK", dev_kek(cfg.var_dir, service))
        if service == "rules":  # seals the tenants' webhook secrets
            env.setdefault("RULES_KEK", dev_kek(cfg.var_dir, service))
        if service == "messaging":  # seals the channel configs' secrets
            env.setdefault("MESSAGING_KEK", dev_kek(cfg.var_dir, service))
        if cfg.otlp_endpoint is not None:
            host, port = cfg.otlp_endpoint
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://{host}:{port}"
            env["OTEL_EXPORTER_OTLP_INSECURE"] = "true"
            env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")
        return env

    def start_service(
        self,
        service: str,
        *,
        wait: bool = True,
        timeout: float = 60.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """Start one service; ``extra_env`` overrides settings for this start only."""
        env = {**self.service_env(service), **(extra_env or {})}
        self._spawn(service, [sys.executable, "-m", service], env)
        if wait:
            self.wait_serving(service, timeout)

    def wait_serving(self, service: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        proc = self.procs[service]
        with grpc.insecure_channel(self.config.address(service)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{service} exited with {proc.returncode}; see {self._logs / service}.log"
                    )
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise TimeoutError(
            f"{service} not serving after {timeout:.0f}s; see {self._logs / service}.log"
        )

    def gateway_settings(self, **overrides: Any) -> GatewaySettings:
        """gateway.yaml pointed at this stack's services; ``overrides`` win (e.g. the
        ports of a second gateway, or other rate limits)."""
        cfg = self.config
        base: dict[str, Any] = {
            "listen_port": cfg.gateway_port,
            "admin_port": cfg.admin_port,
            "upstreams": {s: ("127.0.0.1", p) for s, p in cfg.service_ports.items()},
            "otlp_endpoint": cfg.otlp_endpoint,
            "jwks_endpoint": ("127.0.0.1", cfg.jwks_port),
        }
        if cfg.gateway_rate_limit is not None:
            base["rate_limit"] = cfg.gateway_rate_limit
        return load_settings(REPO_ROOT / "gateway" / "gateway.yaml", overrides=base | overrides)

    def start_gateway(self, timeout: float = 30.0) -> None:
        cfg = self.config
        settings = self.gateway_settings()
        config_path = write_envoy_config(
            REPO_ROOT / "build" / "api_descriptor.binpb", settings, cfg.var_dir / "envoy.yaml"
        )
        self.procs["gateway"] = start_envoy(config_path, self._base_id, self._logs / "gateway.log")
        wait_ready(cfg.admin_port, timeout)

    def stop_process(self, name: str, *, timeout: float = 20.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def kill_process(self, name: str) -> None:
        """SIGKILL: no drain, no goodbye (for failure tests)."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()
