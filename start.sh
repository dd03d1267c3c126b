#!/usr/bin/env bash
# Set up .venv if needed and start OperatorFlow on https://localhost:8501 with the embedded defaults.
# Extra arguments go to `operatorflow serve` (for example --address 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh app
exec .venv/bin/operatorflow serve "$@"
