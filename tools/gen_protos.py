"""Generate Python code and the descriptor set from proto/.

Writes libs/contracts/src/crosstalk/** (messages, gRPC stubs, mypy stubs) and
build/api_descriptor.binpb (imports and source info included, as Envoy's
gRPC-JSON transcoder needs them). Skips work when the protos are unchanged:
a stamp file records their hash. Generated code is never committed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"
THIRD_PARTY = PROTO / "third_party"
OUT = ROOT / "libs" / "contracts" / "src"
PACKAGE = OUT / "crosstalk"
STAMP = PACKAGE / ".gen-stamp"
DESCRIPTOR = ROOT / "build" / "api_descriptor.binpb"
# Detail types that convert_grpc_status must be able to render as JSON.
EXTRA_DESCRIPTOR_INPUTS = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


def proto_files() -> list[Path]:
    return sorted((PROTO / "crosstalk").rglob("*.proto"))


def proto_hash(files: list[Path]) -> str:
    """Inputs and generator versions: a change to either regenerates."""
    digest = hashlib.sha256()
    for tool in ("grpcio-tools", "mypy-protobuf", "protobuf"):
        digest.update(f"{tool}={metadata.version(tool)}".encode())
    for path in files + sorted(THIRD_PARTY.rglob("*.proto")) + [Path(__file__)]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def protoc(*args: str) -> None:
    bin_dir = Path(sys.executable).parent
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"-I{THIRD_PARTY}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        *args,
    ]
    subprocess.run(cmd, check=True)


def main() -> int:
    files = proto_files()
    wanted = proto_hash(files)
    if STAMP.exists() and STAMP.read_text().strip() == wanted and DESCRIPTOR.exists():
        print("gen: protos unchanged")
        return 0
    if PACKAGE.exists():
        shutil.rmtree(PACKAGE)
    PACKAGE.mkdir(parents=True)
    rel = [str(p.relative_to(PROTO)) for p in files]
    protoc(
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *rel,
    )
    for directory in [PACKAGE, *[d for d in PACKAGE.rglob("*") if d.is_dir()]]:
        (directory / "__init__.py").touch()
    (PACKAGE / "py.typed").touch()
    DESCRIPTOR.parent.mkdir(parents=True, exist_ok=True)
    protoc(
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={DESCRIPTOR}",
        *rel,
        *EXTRA_DESCRIPTOR_INPUTS,
    )
    STAMP.write_text(wanted + "\n")
    outputs = f"{PACKAGE.relative_to(ROOT)}, {DESCRIPTOR.relative_to(ROOT)}"
    print(f"gen: {len(files)} proto files -> {outputs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
