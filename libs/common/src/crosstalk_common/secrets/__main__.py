"""Print a new KEK, ``<id>:<base64>``, for ``<SERVICE>_KEK`` (keep it secret)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from crosstalk_common.secrets.keyring import Kek


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m crosstalk_common.secrets", description=__doc__)
    parser.add_argument("--id", default="", help="the KEK's id (default: kek-<UTC date and time>)")
    args = parser.parse_args()
    kek_id = args.id or f"kek-{datetime.now(UTC):%Y%m%d%H%M%S}"
    print(Kek.generate(kek_id).text())


if __name__ == "__main__":
    main()
