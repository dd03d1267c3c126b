#!/usr/bin/env bash
# Set up .venv with the test tools, make sure the services the tests need are up, run pytest.
# Extra arguments go to pytest (for example -m "not spark" or -k worker).
set -euo pipefail
cd "$(dirname "$0")"
# The deep-learning extra too, so the taxi-tip-keras tests run rather than fail (about a minute
# more on the first set-up, with pip's cache and the PyTorch wheel on disk).
scripts/setup.sh dev --with-deep-learning
scripts/test-services.sh
export AWS_EC2_METADATA_DISABLED=true SPARK_LOCAL_IP=127.0.0.1
exec .venv/bin/python -m pytest "$@"
