"""`python -m identity`"""

from crosstalk_common.entrypoint import run_service
from identity.bootstrap import SERVICE, build

if __name__ == "__main__":
    run_service(SERVICE, build)
