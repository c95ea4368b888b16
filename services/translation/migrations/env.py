from crosstalk_common.db.migrations import run_env
from translation.adapters.tables import metadata

run_env(metadata)
