"""`make bench`: every bench, figures printed (never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432/postgres"

RUNS = [
    ["bench.rpc_latency"],
    ["bench.rpc_latency", "--pg", PG],
    ["bench.outbox_pipeline"],
    ["bench.outbox_pipeline", "--pg", PG],
    ["bench.auth_overhead"],
    ["bench.identity_bench"],
    ["bench.identity_bench", "--pg", PG],
    ["bench.translation_bench"],
    # Builds (once, then reuses) 1,000,000 customers per backend: minutes the first time.
    ["bench.customers_filter"],
    ["bench.customers_filter", "--pg", PG],
    ["bench.customers_bulk_tag"],
    ["bench.customers_bulk_tag", "--pg", PG],
    ["bench.customers_import_export"],
    ["bench.customers_import_export", "--pg", PG],
]

for run in RUNS:
    print(f"\n$ python -m {' '.join(run)}", flush=True)
    subprocess.run([sys.executable, "-m", *run], cwd=ROOT, check=True)
