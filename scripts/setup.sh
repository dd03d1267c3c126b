#!/usr/bin/env bash
# Create .venv in the repository root and install OperatorFlow into it.
# Usage: scripts/setup.sh [app|dev]   (dev adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-app}
requirements=requirements.txt
[ "$profile" = dev ] && requirements=requirements-dev.txt

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
stamp=.venv/.operatorflow-$profile
wanted=$(cat requirements.txt "$requirements" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "Installing $requirements into .venv (the first time takes a few minutes: PySpark is about 490 MB)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$requirements"
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$wanted" > "$stamp"
fi
