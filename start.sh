#!/usr/bin/env bash
# Set up .venv if needed and start OperatorFlow on https://localhost:8501 with the embedded defaults.
# --with-deep-learning also installs requirements-deep-learning.txt (Keras and the CPU build of
# PyTorch). Other arguments go to `operatorflow serve` (for example --address 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")"
setup_arguments=(app)
serve_arguments=()
for argument in "$@"; do
  if [ "$argument" = --with-deep-learning ]; then
    setup_arguments+=(--with-deep-learning)
  else
    serve_arguments+=("$argument")
  fi
done
scripts/setup.sh "${setup_arguments[@]}"
exec .venv/bin/operatorflow serve "${serve_arguments[@]}"
