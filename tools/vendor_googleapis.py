"""Copy the google/api and google/rpc protos we import from googleapis-common-protos.

They are inputs to code generation and to `buf`, so they are committed under
proto/third_party. Run `make vendor-protos` after bumping googleapis-common-protos.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import google.api
import google.rpc

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "proto" / "third_party" / "google"

WANTED = {
    google.api: [
        "annotations",
        "http",
        "field_behavior",
        "resource",
        "client",
        "launch_stage",
        "field_info",
        "httpbody",
    ],
    google.rpc: ["status", "error_details", "code"],
}


def main() -> None:
    for package, names in WANTED.items():
        src_dir = Path(next(iter(package.__path__)))
        dest_dir = DEST / src_dir.name
        dest_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(src_dir / f"{name}.proto", dest_dir / f"{name}.proto")
            print(f"vendored google/{src_dir.name}/{name}.proto")


if __name__ == "__main__":
    main()
