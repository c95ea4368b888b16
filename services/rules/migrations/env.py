from crosstalk_common.db.migrations import run_env
from rules.adapters.tables import metadata

run_env(metadata)
