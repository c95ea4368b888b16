from crosstalk_common.db.migrations import run_env
from messaging.adapters.tables import metadata

run_env(metadata)
