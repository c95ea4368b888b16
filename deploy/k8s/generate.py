"""Writes the kustomize tree under deploy/k8s from one description of the services.

Run ``python deploy/k8s/generate.py`` after changing a service's ports, peers or
settings; tests/k8s checks that the committed files are what this writes. The
files are plain YAML (pyyaml), so kustomize, kubectl and reviewers read them
as usual; this script only keeps six services' manifests from drifting apart.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent
NAMESPACE = "crosstalk"
IMAGE_PREFIX = "ghcr.io/crosstalk"
IMAGE_TAG = "0.1.0"
UID = 10001
# A writable emptyDir at the pod's /tmp (the root filesystem is read-only).
TMP = "/" + "tmp"


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    peers: tuple[str, ...] = ()
    memory: str = "512Mi"
    cpu: str = "500m"
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    # Non-secret settings (ConfigMap) and secret ones (Secret key -> env name).
    config: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return self.name.upper()

    @property
    def grpc_service(self) -> str:
        return {
            "identity": "crosstalk.identity.v1.IdentityService",
            "customers": "crosstalk.customers.v1.CustomersService",
            "rules": "crosstalk.rules.v1.RulesService",
            "translation": "crosstalk.translation.v1.TranslationService",
            "messaging": "crosstalk.messaging.v1.MessagingService",
            "reporting": "crosstalk.reporting.v1.ReportingService",
        }[self.name]


SERVICES = (
    Service(
        "identity",
        50051,
        extra_ports={"jwks": 50151},
        config={"IDENTITY_JWKS_HOST": "0.0.0.0", "IDENTITY_JWKS_PORT": "50151"},
        # Identity checks each service's own secret before it issues it a service token
        # (ADR 0026); the service holds the same key of the Secret.
        secrets=("IDENTITY_KEK", "MESSAGING_SERVICE_SECRET"),
    ),
    Service("customers", 50052, memory="768Mi"),
    Service("rules", 50053, peers=("customers", "messaging"), secrets=("RULES_KEK",)),
    Service("translation", 50054, memory="1Gi", cpu="1"),
    Service(
        "messaging",
        50055,
        peers=("customers", "translation"),
        secrets=("MESSAGING_KEK", "MESSAGING_CSAT_TOKEN_SECRET", "MESSAGING_SERVICE_SECRET"),
    ),
    Service(
        "reporting",
        50056,
        memory="768Mi",
        config={"REPORTING_SMTP_HOST": "", "REPORTING_SMTP_PORT": "25"},
    ),
)
SERVICE_NAMES = tuple(s.name for s in SERVICES)


def labels(name: str, component: str = "service") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "crosstalk",
        "app.kubernetes.io/component": component,
    }


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def image(name: str) -> str:
    return f"{IMAGE_PREFIX}/{name}:{IMAGE_TAG}"


def service_env(s: Service) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": f"{s.prefix}_HOST", "value": "0.0.0.0"},
        {"name": f"{s.prefix}_PORT", "value": str(s.port)},
        {"name": f"{s.prefix}_MIGRATE_ON_START", "value": "false"},
        {
            "name": f"{s.prefix}_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "crosstalk-databases", "key": s.name}},
        },
        {
            "name": "CROSSTALK_PAGE_TOKEN_SECRET",
            "valueFrom": {
                "secretKeyRef": {"name": "crosstalk-secrets", "key": "CROSSTALK_PAGE_TOKEN_SECRET"}
            },
        },
    ]
    peers = s.peers if s.name == "identity" else ("identity", *s.peers)
    for peer in peers:
        port = next(p.port for p in SERVICES if p.name == peer)
        env.append({"name": f"{peer.upper()}_ADDRESS", "value": f"{peer}:{port}"})
    for key in s.secrets:
        env.append(
            {
                "name": key,
                "valueFrom": {"secretKeyRef": {"name": "crosstalk-secrets", "key": key}},
            }
        )
    for key, value in s.config.items():
        env.append({"name": key, "value": value})
    return env


def grpc_probe(port: int, service: str, **timing: int) -> dict[str, Any]:
    return {"grpc": {"port": port, "service": service}, **timing}


def deployment(s: Service) -> dict[str, Any]:
    ports = [{"name": "grpc", "containerPort": s.port, "protocol": "TCP"}]
    ports += [
        {"name": name, "containerPort": port, "protocol": "TCP"}
        for name, port in s.extra_ports.items()
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": s.name, "labels": labels(s.name)},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(s.name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(s.name)},
                "spec": {
                    "serviceAccountName": s.name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": s.name,
                            "image": image(s.name),
                            "imagePullPolicy": "Always",
                            "ports": ports,
                            "envFrom": [{"configMapRef": {"name": "crosstalk-config"}}],
                            "env": service_env(s),
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"cpu": s.cpu, "memory": s.memory},
                            },
                            "startupProbe": grpc_probe(
                                s.port, "", periodSeconds=5, failureThreshold=36
                            ),
                            "livenessProbe": grpc_probe(
                                s.port, "", periodSeconds=10, failureThreshold=3
                            ),
                            "readinessProbe": grpc_probe(
                                s.port, s.grpc_service, periodSeconds=5, failureThreshold=2
                            ),
                            "securityContext": container_security(),
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": TMP},
                                {"name": "var", "mountPath": "/var/lib/crosstalk"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                        {"name": "var", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }


def service(name: str, ports: Mapping[str, int], component: str = "service") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels(name, component)},
        "spec": {
            "selector": selector(name),
            "ports": [
                {"name": pname, "port": port, "targetPort": port, "protocol": "TCP"}
                for pname, port in ports.items()
            ],
        },
    }


def hpa(name: str, max_replicas: int = 10) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def pdb(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels(name)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(name)}},
    }


def service_account(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "labels": labels(name)},
        "automountServiceAccountToken": False,
    }


def migration_job(s: Service) -> dict[str, Any]:
    env = [e for e in service_env(s) if not e["name"].endswith("_MIGRATE_ON_START")]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{s.name}-migrate", "labels": labels(s.name, "migration")},
        "spec": {
            "backoffLimit": 3,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels(f"{s.name}-migrate", "migration")},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": s.name,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": "migrate",
                            "image": image(s.name),
                            "imagePullPolicy": "Always",
                            "command": ["python", "-m", "crosstalk_common.db.migrate", s.name],
                            "envFrom": [{"configMapRef": {"name": "crosstalk-config"}}],
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "512Mi"},
                            },
                            "securityContext": container_security(),
                            "volumeMounts": [{"name": "tmp", "mountPath": TMP}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def gateway() -> list[dict[str, Any]]:
    name = "gateway"
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name, "gateway")},
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name)},
            "template": {
                "metadata": {"labels": labels(name, "gateway")},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": "envoy",
                            "image": image(name),
                            "imagePullPolicy": "Always",
                            "args": [
                                "-c",
                                "/etc/envoy/envoy.yaml",
                                "--drain-time-s",
                                "15",
                                "--log-format",
                                "%Y-%m-%dT%T.%eZ %l %n %v",
                            ],
                            "ports": [
                                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/ready", "port": 8080},
                                "periodSeconds": 2,
                                "failureThreshold": 30,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/ready", "port": 8080},
                                "periodSeconds": 10,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": 8080},
                                "periodSeconds": 5,
                            },
                            "securityContext": container_security(),
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/envoy", "readOnly": True},
                                {"name": "tmp", "mountPath": TMP},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "gateway-envoy"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }
    return [
        dep,
        service(name, {"http": 8080}, "gateway"),
        hpa(name),
        pdb(name),
        service_account(name),
    ]


NATS_CONF = """\
port: 4222
http_port: 8222
server_name: $SERVER_NAME
jetstream {
  store_dir: /data/jetstream
  max_file_store: 8GB
}
cluster {
  name: crosstalk
  port: 6222
  routes: [
    nats://nats-0.nats-cluster:6222
    nats://nats-1.nats-cluster:6222
    nats://nats-2.nats-cluster:6222
  ]
}
"""


def nats() -> list[dict[str, Any]]:
    name = "nats"
    stateful = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": labels(name, "bus")},
        "spec": {
            "serviceName": "nats-cluster",
            "replicas": 3,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector(name)},
            "template": {
                "metadata": {"labels": labels(name, "bus")},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": selector(name)},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },
                    "containers": [
                        {
                            "name": "nats",
                            "image": "nats:2.15.1-alpine",
                            "imagePullPolicy": "Always",
                            "args": ["--config", "/etc/nats/nats.conf"],
                            "env": [
                                {
                                    "name": "SERVER_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                }
                            ],
                            "ports": [
                                {"name": "client", "containerPort": 4222, "protocol": "TCP"},
                                {"name": "cluster", "containerPort": 6222, "protocol": "TCP"},
                                {"name": "monitor", "containerPort": 8222, "protocol": "TCP"},
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/healthz?js-enabled-only=true", "port": 8222},
                                "periodSeconds": 5,
                                "failureThreshold": 24,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz?js-enabled-only=true", "port": 8222},
                                "periodSeconds": 10,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz?js-server-only=true", "port": 8222},
                                "periodSeconds": 5,
                            },
                            "securityContext": container_security(),
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/nats", "readOnly": True},
                                {"name": "data", "mountPath": "/data"},
                            ],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": "nats-config"}}],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }
    headless = service(name, {"client": 4222})
    cluster = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "nats-cluster", "labels": labels(name, "bus")},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector(name),
            "ports": [
                {"name": "client", "port": 4222, "targetPort": 4222, "protocol": "TCP"},
                {"name": "cluster", "port": 6222, "targetPort": 6222, "protocol": "TCP"},
            ],
        },
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "nats-config", "labels": labels(name, "bus")},
        "data": {"nats.conf": NATS_CONF},
    }
    budget = pdb(name)
    return [stateful, headless, cluster, config, budget, service_account(name)]


def write(path: Path, documents: list[dict[str, Any]] | dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    docs = documents if isinstance(documents, list) else [documents]
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
    path.write_text("# Written by deploy/k8s/generate.py; edit that, then run it.\n" + text)


def kustomization(resources: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        **extra,
        "resources": resources,
    }


def base(out: Path) -> None:
    resources = ["namespace.yaml", "nats.yaml", "gateway.yaml"]
    for s in SERVICES:
        write(
            out / f"{s.name}.yaml",
            [
                deployment(s),
                service(s.name, {"grpc": s.port, **s.extra_ports}),
                hpa(s.name),
                pdb(s.name),
                service_account(s.name),
            ],
        )
        write(out / "migrations" / f"{s.name}.yaml", migration_job(s))
        resources += [f"{s.name}.yaml", f"migrations/{s.name}.yaml"]
    write(
        out / "namespace.yaml",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "app.kubernetes.io/part-of": "crosstalk",
                },
            },
        },
    )
    write(out / "nats.yaml", nats())
    write(out / "gateway.yaml", gateway())
    write(
        out / "kustomization.yaml",
        kustomization(
            resources,
            namespace=NAMESPACE,
            labels=[{"pairs": {"app.kubernetes.io/part-of": "crosstalk"}}],
            configMapGenerator=[
                {
                    "name": "crosstalk-config",
                    "literals": [
                        "CROSSTALK_ENV=prod",
                        "CROSSTALK_LOG_LEVEL=INFO",
                        "NATS_URL=nats://nats:4222",
                        "NATS_STREAM_REPLICAS=3",
                    ],
                },
                {"name": "gateway-envoy", "files": ["envoy.yaml=gateway/envoy.yaml"]},
            ],
            secretGenerator=[
                {"name": "crosstalk-secrets", "envs": ["secrets.env.example"]},
                {"name": "crosstalk-databases", "envs": ["databases.env.example"]},
            ],
        ),
    )
    # A key two services read (a service's own secret, which identity checks) once.
    keys = list(
        dict.fromkeys(["CROSSTALK_PAGE_TOKEN_SECRET", *(k for s in SERVICES for k in s.secrets)])
    )
    (out / "secrets.env.example").write_text(
        "# Placeholders only: overlays replace this Secret (see docs/operations.md).\n"
        + "".join(f"{k}=replace-me-{k.lower().replace('_', '-')}\n" for k in keys)
    )
    (out / "databases.env.example").write_text(
        "# Placeholders only: overlays replace this Secret (see docs/operations.md).\n"
        + "".join(
            f"{s.name}=postgresql://{s.name}:replace-me@postgres:5432/{s.name}\n" for s in SERVICES
        )
    )


# --- components -----------------------------------------------------------------

OTEL_CONFIG = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
processors:
  batch: {}
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
exporters:
  otlp/jaeger:
    endpoint: jaeger:4317
    tls:
      insecure: true
extensions:
  health_check:
    endpoint: 0.0.0.0:13133
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp/jaeger]
"""


def simple_deployment(
    name: str,
    image_ref: str,
    ports: Mapping[str, int],
    probe: dict[str, Any],
    *,
    args: list[str] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    env: list[dict[str, Any]] | None = None,
    component: str = "observability",
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image_ref,
        "imagePullPolicy": "Always",
        "ports": [{"name": p, "containerPort": n, "protocol": "TCP"} for p, n in ports.items()],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "livenessProbe": {**probe, "periodSeconds": 10},
        "readinessProbe": {**probe, "periodSeconds": 5},
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": TMP}, *(mounts or [])],
    }
    if args:
        container["args"] = args
    if env:
        container["env"] = env
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name, component)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(name)},
            "template": {
                "metadata": {"labels": labels(name, component)},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                        *(volumes or []),
                    ],
                },
            },
        },
    }


def component(resources: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        **({"resources": resources} if resources else {}),
        **extra,
    }


def otel(out: Path) -> None:
    collector = simple_deployment(
        "otel-collector",
        "otel/opentelemetry-collector:0.139.0",
        {"otlp-grpc": 4317, "health": 13133},
        {"httpGet": {"path": "/", "port": 13133}},
        args=["--config=/etc/otel/config.yaml"],
        volumes=[{"name": "config", "configMap": {"name": "otel-collector-config"}}],
        mounts=[{"name": "config", "mountPath": "/etc/otel", "readOnly": True}],
    )
    jaeger = simple_deployment(
        "jaeger",
        "jaegertracing/all-in-one:1.74.0",
        {"otlp-grpc": 4317, "ui": 16686, "admin": 14269},
        {"httpGet": {"path": "/", "port": 14269}},
        env=[{"name": "COLLECTOR_OTLP_ENABLED", "value": "true"}],
    )
    write(
        out / "otel.yaml",
        [
            collector,
            service("otel-collector", {"otlp-grpc": 4317}, "observability"),
            service_account("otel-collector"),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "otel-collector-config", "labels": labels("otel-collector")},
                "data": {"config.yaml": OTEL_CONFIG},
            },
            jaeger,
            service("jaeger", {"otlp-grpc": 4317, "ui": 16686}, "observability"),
            service_account("jaeger"),
        ],
    )
    write(
        out / "kustomization.yaml",
        component(
            ["otel.yaml"],
            configMapGenerator=[
                {
                    "name": "crosstalk-config",
                    "behavior": "merge",
                    "literals": ["OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317"],
                }
            ],
        ),
    )


def _pods(name: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": selector(name)}}


def _to(name: str, *ports: int) -> dict[str, Any]:
    return {"to": [_pods(name)], "ports": [{"protocol": "TCP", "port": p} for p in ports]}


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": labels(name, "network-policy")},
        "spec": spec,
    }


# Who calls whom, besides the gateway calling every service.
CALLERS = {s.name: tuple(c.name for c in SERVICES if s.name in c.peers) for s in SERVICES}
# Services that reach outside the cluster: SMTP and webhooks of channels, rules, reports.
OUTSIDE_PORTS = {"messaging": (25, 465, 587, 443), "rules": (443,), "reporting": (25, 465, 587)}


def network_policies(out: Path) -> None:
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    otlp = _to("otel-collector", 4317)
    policies = [
        _policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy("dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [dns]}),
    ]
    for s in SERVICES:
        callers = [_pods("gateway"), *(_pods(c) for c in CALLERS[s.name])]
        if s.name == "identity":
            callers += [_pods(o.name) for o in SERVICES if o.name != "identity"]
        ingress = [{"from": callers, "ports": [{"protocol": "TCP", "port": s.port}]}]
        if s.extra_ports:
            ingress.append(
                {
                    "from": [_pods("gateway")],
                    "ports": [{"protocol": "TCP", "port": p} for p in s.extra_ports.values()],
                }
            )
        database = {
            "to": [
                {"podSelector": {"matchLabels": {"cnpg.io/cluster": f"{s.name}-db"}}},
                _pods("postgres"),
            ],
            "ports": [{"protocol": "TCP", "port": 5432}],
        }
        egress = [database, _to("nats", 4222), otlp]
        peers = s.peers if s.name == "identity" else ("identity", *s.peers)
        for peer in peers:
            port = next(p.port for p in SERVICES if p.name == peer)
            egress.append(_to(peer, port))
        if s.name in OUTSIDE_PORTS:
            egress.append(
                {
                    "to": [
                        {
                            "ipBlock": {
                                "cidr": "0.0.0.0/0",
                                "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": p} for p in OUTSIDE_PORTS[s.name]],
                }
            )
        policies.append(
            _policy(
                s.name,
                {
                    "podSelector": {"matchLabels": selector(s.name)},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": ingress,
                    "egress": egress,
                },
            )
        )
    policies.append(
        _policy(
            "gateway",
            {
                "podSelector": {"matchLabels": selector("gateway")},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": 8080}]}],
                "egress": [
                    *(_to(s.name, s.port) for s in SERVICES),
                    _to("identity", 50151),
                    otlp,
                ],
            },
        )
    )
    client_pods = [_pods(s.name) for s in SERVICES] + [_pods("load-generator")]
    policies.append(
        _policy(
            "nats",
            {
                "podSelector": {"matchLabels": selector("nats")},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {"from": client_pods, "ports": [{"protocol": "TCP", "port": 4222}]},
                    {"from": [_pods("nats")], "ports": [{"protocol": "TCP", "port": 6222}]},
                ],
                "egress": [_to("nats", 6222)],
            },
        )
    )
    policies.append(
        _policy(
            "postgres",
            {
                "podSelector": {"matchLabels": selector("postgres")},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_pods(s.name) for s in SERVICES]
                        + [_pods(f"{s.name}-migrate") for s in SERVICES],
                        "ports": [{"protocol": "TCP", "port": 5432}],
                    }
                ],
            },
        )
    )
    for s in SERVICES:
        policies.append(
            _policy(
                f"{s.name}-migrate",
                {
                    "podSelector": {"matchLabels": selector(f"{s.name}-migrate")},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "podSelector": {
                                        "matchLabels": {"cnpg.io/cluster": f"{s.name}-db"}
                                    }
                                },
                                _pods("postgres"),
                            ],
                            "ports": [{"protocol": "TCP", "port": 5432}],
                        }
                    ],
                },
            )
        )
    policies.append(
        _policy(
            "otel-collector",
            {
                "podSelector": {"matchLabels": selector("otel-collector")},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [_pods(s.name) for s in SERVICES] + [_pods("gateway")],
                        "ports": [{"protocol": "TCP", "port": 4317}],
                    }
                ],
                "egress": [_to("jaeger", 4317)],
            },
        )
    )
    policies.append(
        _policy(
            "load-generator",
            {
                "podSelector": {"matchLabels": selector("load-generator")},
                "policyTypes": ["Egress"],
                "egress": [_to("gateway", 8080), _to("nats", 4222)],
            },
        )
    )
    write(out / "policies.yaml", policies)
    write(out / "kustomization.yaml", component(["policies.yaml"]))


def load_generator(out: Path) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "load-generator", "labels": labels("load-generator", "load")},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels("load-generator", "load")},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "load-generator",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": "load",
                            "image": image("loadgen"),
                            "imagePullPolicy": "Always",
                            "args": [
                                "--gateway",
                                "http://gateway:8080",
                                "--rates",
                                "25,50,100",
                                "--step-seconds",
                                "60",
                            ],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "securityContext": container_security(),
                            "volumeMounts": [{"name": "tmp", "mountPath": TMP}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
    write(out / "job.yaml", [job, service_account("load-generator")])
    write(out / "kustomization.yaml", component(["job.yaml"]))


# --- overlays ---------------------------------------------------------------------

POSTGRES_INIT = "".join(
    f"CREATE ROLE {s.name} LOGIN PASSWORD '{s.name}-dev-password';\n"
    f"CREATE DATABASE {s.name} OWNER {s.name};\n"
    for s in SERVICES
)


def dev(out: Path) -> None:
    postgres = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "postgres", "labels": labels("postgres", "database")},
        "spec": {
            "serviceName": "postgres",
            "replicas": 1,
            "selector": {"matchLabels": selector("postgres")},
            "template": {
                "metadata": {"labels": labels("postgres", "database")},
                "spec": {
                    "serviceAccountName": "postgres",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": "postgres",
                            "image": "postgres:16.10-bookworm",
                            "imagePullPolicy": "Always",
                            "env": [
                                {
                                    "name": "POSTGRES_PASSWORD",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": "postgres-admin",
                                            "key": "password",
                                        }
                                    },
                                },
                                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                            ],
                            "ports": [
                                {"name": "postgres", "containerPort": 5432, "protocol": "TCP"}
                            ],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "512Mi"},
                                "limits": {"cpu": "2", "memory": "2Gi"},
                            },
                            "livenessProbe": {
                                "exec": {"command": ["pg_isready", "-U", "postgres"]},
                                "periodSeconds": 10,
                            },
                            "readinessProbe": {
                                "exec": {"command": ["pg_isready", "-U", "postgres"]},
                                "periodSeconds": 5,
                            },
                            "securityContext": container_security(),
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                                {"name": "tmp", "mountPath": TMP},
                                {
                                    "name": "init",
                                    "mountPath": "/docker-entrypoint-initdb.d",
                                    "readOnly": True,
                                },
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "run", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                        {"name": "init", "configMap": {"name": "postgres-init"}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }
    write(
        out / "postgres.yaml",
        [
            postgres,
            service("postgres", {"postgres": 5432}, "database"),
            service_account("postgres"),
        ],
    )
    (out / "postgres-init.sql").write_text(POSTGRES_INIT)
    (out / "databases.env").write_text(
        "".join(
            f"{s.name}=postgresql://{s.name}:{s.name}-dev-password@postgres:5432/{s.name}\n"
            for s in SERVICES
        )
    )
    write(
        out / "kustomization.yaml",
        kustomization(
            ["../../base", "postgres.yaml"],
            namespace=NAMESPACE,
            components=[
                "../../components/otel",
                "../../components/network-policies",
                "../../components/load-generator",
            ],
            configMapGenerator=[
                {"name": "postgres-init", "files": ["postgres-init.sql"]},
                {
                    "name": "crosstalk-config",
                    "behavior": "merge",
                    "literals": ["CROSSTALK_ENV=dev", "CROSSTALK_LOG_LEVEL=DEBUG"],
                },
            ],
            secretGenerator=[
                {"name": "crosstalk-databases", "behavior": "replace", "envs": ["databases.env"]},
                {"name": "postgres-admin", "literals": ["password=dev-only-postgres-password"]},
            ],
            images=[
                {"name": image(s).rsplit(":", 1)[0], "newTag": "dev"}
                for s in [*SERVICE_NAMES, "gateway", "loadgen"]
            ],
        ),
    )


def cnpg_cluster(s: Service) -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": f"{s.name}-db", "labels": labels(f"{s.name}-db", "database")},
        "spec": {
            "instances": 3,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:16.10",
            "primaryUpdateStrategy": "unsupervised",
            "storage": {"size": "20Gi"},
            "bootstrap": {"initdb": {"database": s.name, "owner": s.name}},
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
            "affinity": {"enablePodAntiAffinity": True, "topologyKey": "kubernetes.io/hostname"},
            "monitoring": {"enablePodMonitor": False},
        },
    }


def prod(out: Path) -> None:
    write(out / "databases.yaml", [cnpg_cluster(s) for s in SERVICES])
    patches: list[dict[str, Any]] = []
    for index, s in enumerate(SERVICES):
        del index
        env_index = 3  # <SERVICE>_DATABASE_URL, see service_env()
        patches.append(
            {
                "target": {"kind": "Deployment", "name": s.name},
                "patch": yaml.safe_dump(
                    [
                        {"op": "replace", "path": "/spec/replicas", "value": 2},
                        {
                            "op": "replace",
                            "path": f"/spec/template/spec/containers/0/env/{env_index}/valueFrom",
                            "value": {"secretKeyRef": {"name": f"{s.name}-db-app", "key": "uri"}},
                        },
                        {
                            "op": "add",
                            "path": "/spec/template/spec/topologySpreadConstraints",
                            "value": [
                                {
                                    "maxSkew": 1,
                                    "topologyKey": "topology.kubernetes.io/zone",
                                    "whenUnsatisfiable": "ScheduleAnyway",
                                    "labelSelector": {"matchLabels": selector(s.name)},
                                },
                                {
                                    "maxSkew": 1,
                                    "topologyKey": "kubernetes.io/hostname",
                                    "whenUnsatisfiable": "DoNotSchedule",
                                    "labelSelector": {"matchLabels": selector(s.name)},
                                },
                            ],
                        },
                    ],
                    sort_keys=False,
                ),
            }
        )
        patches.append(
            {
                "target": {"kind": "Job", "name": f"{s.name}-migrate"},
                "patch": yaml.safe_dump(
                    [
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/env/2/valueFrom",
                            "value": {"secretKeyRef": {"name": f"{s.name}-db-app", "key": "uri"}},
                        }
                    ],
                    sort_keys=False,
                ),
            }
        )
        patches.append(
            {
                "target": {"kind": "HorizontalPodAutoscaler", "name": s.name},
                "patch": yaml.safe_dump(
                    [
                        {"op": "replace", "path": "/spec/minReplicas", "value": 2},
                        {"op": "replace", "path": "/spec/maxReplicas", "value": 20},
                    ],
                    sort_keys=False,
                ),
            }
        )
    patches.append(
        {
            "target": {"kind": "HorizontalPodAutoscaler", "name": "gateway"},
            "patch": yaml.safe_dump(
                [{"op": "replace", "path": "/spec/minReplicas", "value": 2}], sort_keys=False
            ),
        }
    )
    write(
        out / "kustomization.yaml",
        kustomization(
            ["../../base", "databases.yaml"],
            namespace=NAMESPACE,
            components=["../../components/otel", "../../components/network-policies"],
            patches=patches,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    root = Path(args[args.index("--out") + 1]) if "--out" in args else ROOT
    base(root / "base")
    otel(root / "components" / "otel")
    network_policies(root / "components" / "network-policies")
    load_generator(root / "components" / "load-generator")
    dev(root / "overlays" / "dev")
    prod(root / "overlays" / "prod")
    return 0


if __name__ == "__main__":
    sys.exit(main())
