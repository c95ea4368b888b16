"""`python -m translation`"""

import sys

from crosstalk_common.config import MissingSetting
from crosstalk_common.entrypoint import run_service
from translation.adapters.settings import TranslationSettings
from translation.bootstrap import SERVICE, build

if __name__ == "__main__":
    try:
        TranslationSettings.from_env()  # fail fast, before anything starts
    except MissingSetting as exc:
        print(f"{SERVICE}: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    run_service(SERVICE, build)
