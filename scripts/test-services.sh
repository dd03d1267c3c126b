#!/usr/bin/env bash
# Start what the tests need and is not running: PostgreSQL on 127.0.0.1:5432, Chromium for browser tests,
# podman, runc, buildah, a static busybox and Debian's docker-registry for the container and image tests.
set -uo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "Starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 || echo "warning: PostgreSQL is not running on 127.0.0.1:5432; the postgres tests will fail. Start it, or set OPERATORFLOW_TEST_POSTGRES_URL." >&2
fi

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
      || echo "warning: could not install chromium; the browser tests will be skipped." >&2
  else
    echo "warning: /usr/bin/chromium is missing (apt-get install chromium); the browser tests will be skipped." >&2
  fi
fi
# The container tests run images made of a static busybox with podman (runc as its runtime). The image
# tests build from such a base with podman or buildah and push to Debian's docker-registry.
missing=""
command -v podman >/dev/null 2>&1 || missing="$missing podman"
command -v runc >/dev/null 2>&1 || missing="$missing runc"
command -v buildah >/dev/null 2>&1 || missing="$missing buildah"
[ -x /usr/bin/docker-registry ] || missing="$missing docker-registry"
# Debian's plain busybox package is linked dynamically, but the base image needs the static build.
case "$(ldd /usr/bin/busybox 2>&1)" in
  *"not a dynamic executable"*) ;;
  *) missing="$missing busybox-static" ;;
esac
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's$missing for the image tests"
    # shellcheck disable=SC2086 # the list is split into package names on purpose
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } >/dev/null 2>&1 \
      || echo "warning: could not install$missing; the image tests that need them will be skipped." >&2
  else
    echo "warning:$missing missing (apt-get install$missing); the image tests that need them will be skipped." >&2
  fi
fi
exit 0
