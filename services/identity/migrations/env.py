from crosstalk_common.db.migrations import run_env
from identity.adapters.tables import metadata

run_env(metadata)
