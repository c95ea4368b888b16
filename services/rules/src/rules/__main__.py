"""`python -m rules`"""

from crosstalk_common.entrypoint import run_service
from rules.bootstrap import PEERS, SERVICE, build

if __name__ == "__main__":
    run_service(SERVICE, build, peers=PEERS)
