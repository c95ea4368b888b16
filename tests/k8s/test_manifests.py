"""The Kubernetes manifests: rendered with kustomize, validated strictly against a
pinned Kubernetes version (custom resources against their vendored schemas),
checked by checkov, and checked against the services themselves (every service
deployed, probed, scaled and fenced; env names the services read; images whose
entrypoints exist)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from crosstalk_common.runtime import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
TARGETS = ("base", "overlays/dev", "overlays/prod")
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())
BIN = Path(sys.executable).parent
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
SCHEMAS = {
    ("postgresql.cnpg.io/v1", "Cluster"): K8S / "schemas" / "postgresql.cnpg.io_v1_cluster.json",
}


def _render(target: str) -> str:
    envoy = K8S / "base" / "gateway" / "envoy.yaml"
    assert envoy.is_file(), f"{envoy} is missing: run `make gen` (it writes the gateway's config)"
    result = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for target in TARGETS:
        path = out / f"{target.replace('/', '-')}.yaml"
        path.write_text(_render(target))
        files[target] = path
    return files


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_the_committed_manifests_are_what_the_generator_writes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for generated in sorted(tmp_path.rglob("*")):
        if generated.is_file():
            committed = K8S / generated.relative_to(tmp_path)
            assert committed.is_file(), f"{committed} is missing: run deploy/k8s/generate.py"
            assert committed.read_text() == generated.read_text(), (
                f"{committed} differs from what deploy/k8s/generate.py writes: run it"
            )


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_is_valid_for_the_pinned_kubernetes_version(
    rendered: dict[str, Path], target: str
) -> None:
    result = subprocess.run(
        [
            str(BIN / "kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            str(rendered[target]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.startswith(("ERROR", "FAIL")) or "failed" in line.lower()
    ]
    assert result.returncode == 0, result.stdout + result.stderr
    assert not problems, result.stdout + result.stderr
    custom = [
        d
        for d in _docs(rendered[target])
        if "." in d["apiVersion"].split("/")[0]
        and not d["apiVersion"].split("/")[0].endswith("k8s.io")
        and d["apiVersion"].split("/")[0] not in ("apps", "batch", "policy", "autoscaling")
    ]
    for doc in custom:
        schema_file = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        assert schema_file is not None, f"no vendored schema for {doc['apiVersion']} {doc['kind']}"
        jsonschema.validate(doc, json.loads(schema_file.read_text()))


def test_custom_resources_are_checked_against_their_schema() -> None:
    schema = json.loads(SCHEMAS[("postgresql.cnpg.io/v1", "Cluster")].read_text())
    bad = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": "three"},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def _checkov_skips() -> dict[str, str]:
    skips = yaml.safe_load((Path(__file__).parent / "checkov_skips.yaml").read_text())
    assert isinstance(skips, dict)
    for check, reason in skips.items():
        assert isinstance(reason, str), f"{check}: give a reason"
        assert len(reason.split()) >= 8, f"{check}: give a reason"
    return skips


def test_checkov_fails_nothing_without_a_written_reason(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    if not CHECKOV.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHECKOV} is missing (CI=true): `make test` installs it")
        pytest.skip(f"{CHECKOV} is missing: `make .tools/checkov/bin/checkov` installs it")
    for _target, path in rendered.items():
        shutil.copy(path, tmp_path / path.name)
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "-o",
            "json",
            "--quiet",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    skips = _checkov_skips()
    failed = sorted(
        {
            f"{f['check_id']} {f['check_name']} ({f['resource']})"
            for report in reports
            for f in report["results"]["failed_checks"]
            if f["check_id"] not in skips
        }
    )
    assert failed == [], "\n".join(failed)
    passed = sum(int(r["summary"]["passed"]) for r in reports)
    assert passed > 100  # checkov did look at the manifests


def _container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("target", ["overlays/dev", "overlays/prod"])
def test_every_service_is_deployed_probed_scaled_and_fenced(
    rendered: dict[str, Path], target: str
) -> None:
    docs = _docs(rendered[target])
    deployments = _by_kind(docs, "Deployment")
    services = _by_kind(docs, "Service")
    hpas = _by_kind(docs, "HorizontalPodAutoscaler")
    pdbs = _by_kind(docs, "PodDisruptionBudget")
    policies = _by_kind(docs, "NetworkPolicy")
    accounts = _by_kind(docs, "ServiceAccount")
    jobs = _by_kind(docs, "Job")
    assert "default-deny" in policies
    for name in SERVICES:
        deployment = deployments[name]
        container = _container(deployment)
        pod = deployment["spec"]["template"]["spec"]
        port = container["ports"][0]["containerPort"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["grpc"]["port"] == port, f"{name}: {probe}"
        assert container["readinessProbe"]["grpc"]["service"].startswith("crosstalk.")
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["runAsNonRoot"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["resources"]["limits"]
        assert container["resources"]["requests"]
        assert pod["automountServiceAccountToken"] is False
        assert accounts[name]["automountServiceAccountToken"] is False
        env = {e["name"]: e for e in container["env"]}
        assert env[f"{name.upper()}_MIGRATE_ON_START"]["value"] == "false"
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert policies[name]["spec"]["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": name
        }
        migrate = _container(jobs[f"{name}-migrate"])
        assert migrate["command"] == ["python", "-m", "crosstalk_common.db.migrate", name]
    nats = _by_kind(docs, "StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    if target == "overlays/prod":
        clusters = _by_kind(docs, "Cluster")
        assert sorted(clusters) == [f"{s}-db" for s in SERVICES]
        for name in SERVICES:
            url = {e["name"]: e for e in _container(deployments[name])["env"]}[
                f"{name.upper()}_DATABASE_URL"
            ]
            assert url["valueFrom"]["secretKeyRef"] == {"name": f"{name}-db-app", "key": "uri"}
            assert deployments[name]["spec"]["template"]["spec"]["topologySpreadConstraints"]


class _Reads(dict[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)


def _names_from_settings(service: str) -> set[str]:
    """Names ServiceSettings.from_env reads for the service, and those its own
    settings classes read (``<service>.adapters.settings``, when it has one)."""
    peers = importlib.import_module(f"{service}.bootstrap").__dict__.get("PEERS", ())
    env = _Reads()
    ServiceSettings.from_env(service, peers=peers, environ=env)
    if importlib.util.find_spec(f"{service}.adapters.settings") is not None:
        module = importlib.import_module(f"{service}.adapters.settings")
        for value in vars(module).values():
            loader = getattr(value, "from_env", None)
            if isinstance(value, type) and value.__module__ == module.__name__ and loader:
                # A required secret is missing: what it read before still counts.
                with contextlib.suppress(Exception):
                    loader(environ=env)
    return env.read


def _source_text(service: str) -> str:
    paths = [*(ROOT / "services" / service / "src").rglob("*.py")]
    paths += [*(ROOT / "libs" / "common" / "src").rglob("*.py")]
    return "\n".join(p.read_text() for p in paths)


def test_env_names_in_the_manifests_are_the_ones_the_services_read(
    rendered: dict[str, Path],
) -> None:
    docs = _docs(rendered["overlays/prod"]) + _docs(rendered["overlays/dev"])
    deployments = _by_kind(docs, "Deployment")
    configs = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("crosstalk-config")
    ]
    shared = {k for c in configs for k in c["data"]}
    for name in SERVICES:
        container = _container(deployments[name])
        names = {e["name"] for e in container["env"]} | shared
        from_settings = _names_from_settings(name)
        source = _source_text(name)
        # A service's key-encryption keys are read by the kit's keyring_from_env(prefix).
        keyring = re.search(rf'keyring_from_env\(\s*["\']{name.upper()}["\']', source)
        kek = {f"{name.upper()}_KEK", f"{name.upper()}_KEK_PREVIOUS"} if keyring else set()
        unknown = sorted(
            n
            for n in names
            if n not in from_settings and n not in kek and not re.search(rf'["\']{n}["\']', source)
        )
        assert unknown == [], f"{name} never reads {unknown}"
        assert {f"{name.upper()}_HOST", f"{name.upper()}_DATABASE_URL"} <= from_settings


def _dockerfile_targets() -> dict[str, list[str]]:
    text = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    targets: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        match = re.match(r"FROM \S+ AS (\S+)", line)
        if match:
            current = match.group(1)
        entry = re.match(r"ENTRYPOINT (\[.*\])", line)
        if entry:
            targets[current] = json.loads(entry.group(1))
    return targets


def test_each_image_starts_a_module_that_exists() -> None:
    targets = _dockerfile_targets()
    for name in SERVICES:
        assert targets[name] == ["python", "-m", name], name
    for target, entrypoint in targets.items():
        if entrypoint[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(entrypoint[2]) is not None, f"{target}: {entrypoint}"
    assert targets["gateway"][0] == "envoy"
    assert shutil.which("envoy", path=str(BIN)) is not None
    assert importlib.util.find_spec("crosstalk_common.db.migrate") is not None


def _iter_images(docs: list[dict[str, Any]]) -> Iterator[str]:
    for d in docs:
        spec = d.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            yield c["image"]


def test_no_image_floats(rendered: dict[str, Path]) -> None:
    for path in rendered.values():
        for ref in _iter_images(_docs(path)):
            assert ":" in ref.rsplit("/", 1)[-1], ref
            assert not ref.endswith(":latest"), ref
