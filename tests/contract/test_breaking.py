"""The protos stay wire- and source-compatible with the committed baseline.

Equivalent to `buf breaking` with the FILE category against
proto/baseline/api.binpb. Both sides are compared as images: `buf breaking
proto` sees two modules (proto and the nested proto/third_party) and refuses
a one-image baseline. To accept a deliberate break, run `make
proto-baseline` and review the change.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "proto" / "baseline" / "api.binpb"
BREAKING_CONFIG = '{"version":"v2","breaking":{"use":["FILE"]}}'


def _buf() -> str:
    local = Path(sys.executable).parent / "buf"
    found = str(local) if local.exists() else shutil.which("buf")
    if found is None:
        pytest.skip("buf is not installed (it comes with the dev dependency group)")
    return found


def test_no_breaking_changes_against_baseline(tmp_path: Path) -> None:
    if not BASELINE.exists():
        pytest.fail("proto/baseline/api.binpb is missing: run make proto-baseline", pytrace=False)
    buf = _buf()
    current = tmp_path / "current.binpb"
    build = subprocess.run(
        [buf, "build", "proto", "-o", str(current)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"buf build proto failed:\n{build.stderr}{build.stdout}", pytrace=False)
    breaking = subprocess.run(
        [buf, "breaking", str(current), "--against", str(BASELINE), "--config", BREAKING_CONFIG],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if breaking.returncode != 0:
        pytest.fail(
            "breaking changes against proto/baseline/api.binpb:\n"
            f"{breaking.stdout}{breaking.stderr}",
            pytrace=False,
        )
