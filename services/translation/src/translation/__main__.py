"""`python -m translation`"""

from crosstalk_common.entrypoint import run_service
from translation.bootstrap import SERVICE, build

if __name__ == "__main__":
    run_service(SERVICE, build)
