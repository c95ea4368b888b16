"""``python -m crosstalk_common.db.migrate <service>``: migrate one service's
database to head and exit (the migration Job run before a rollout, while the
service's pods start with ``<SERVICE>_MIGRATE_ON_START=false``).

The database URL is the service's own setting (``<SERVICE>_DATABASE_URL``);
the revisions are those next to the service's package
(``<service>.bootstrap.MIGRATIONS``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.runtime import SERVICE_PORTS, ServiceSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Migrate one service's database to head.")
    parser.add_argument("service", choices=sorted(SERVICE_PORTS))
    args = parser.parse_args(argv)
    migrations = importlib.import_module(f"{args.service}.bootstrap").MIGRATIONS
    if not isinstance(migrations, Path) or not migrations.is_dir():
        print(f"{args.service}: no migrations directory at {migrations}", file=sys.stderr)
        return 2
    settings = ServiceSettings.from_env(args.service)
    upgrade_to_head(migrations, settings.database_url)
    print(f"{args.service}: migrated to head", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
