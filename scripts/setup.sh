#!/usr/bin/env bash
# Create .venv in the repository root and install OperatorFlow into it.
# Usage: scripts/setup.sh [app|dev] [--with-deep-learning]
#   dev adds the test tools; --with-deep-learning adds requirements-deep-learning.txt (Keras and the
#   CPU build of PyTorch), which pipelines such as taxi-tip-keras need.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=app
deep_learning=no
for argument in "$@"; do
  case "$argument" in
    app|dev) profile=$argument ;;
    --with-deep-learning) deep_learning=yes ;;
    *)
      echo "error: unknown argument $argument. Usage: scripts/setup.sh [app|dev] [--with-deep-learning]" >&2
      exit 2
      ;;
  esac
done
requirements=requirements.txt
[ "$profile" = dev ] && requirements=requirements-dev.txt
install_arguments=(-r "$requirements")
stamp_name=$profile
if [ "$deep_learning" = yes ]; then
  install_arguments+=(-r requirements-deep-learning.txt)
  stamp_name=$profile-deep-learning
fi

python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found. Install Python 3.11 or newer, or set PYTHON=/path/to/python3." >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: OperatorFlow needs Python 3.11 or newer; $python is $("$python" --version 2>&1)." >&2
  exit 1
fi

# PySpark 4 needs Java 17 or newer. Report a missing or old Java now, not at the first notebook run.
java_bin=java
[ -n "${JAVA_HOME:-}" ] && java_bin="$JAVA_HOME/bin/java"
java_version=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9.]*\).*/\1/p' | head -n 1 || true)
java_major=${java_version%%.*}
# Java 8 and older report themselves as 1.x.
[ "$java_major" = 1 ] && java_major=$(echo "$java_version" | cut -d. -f2)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  echo "error: PySpark needs Java 17 or newer, and ${java_major:+Java $java_major was found}${java_major:-no java command was found}." >&2
  echo "  Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless" >&2
  echo "  macOS:         brew install openjdk@17" >&2
  echo "  or set JAVA_HOME to a Java 17+ installation." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

# Reinstall only when a requirements file changed since the last set-up.
stamp=.venv/.operatorflow-$stamp_name
wanted=$(cat requirements.txt "$requirements" pyproject.toml | sha256sum | cut -d' ' -f1)
[ "$deep_learning" = yes ] && wanted=$(cat requirements-deep-learning.txt | sha256sum | cut -d' ' -f1)-$wanted
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "Installing $requirements into .venv (the first time takes a few minutes: PySpark is about 490 MB)"
  [ "$deep_learning" = yes ] && echo "Adding the deep-learning extra: Keras and the CPU build of PyTorch (about 800 MB)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "${install_arguments[@]}"
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$wanted" > "$stamp"
fi
