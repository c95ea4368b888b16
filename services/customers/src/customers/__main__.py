"""`python -m customers`"""

from crosstalk_common.entrypoint import run_service
from customers.bootstrap import SERVICE, build

if __name__ == "__main__":
    run_service(SERVICE, build)
