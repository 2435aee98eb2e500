#!/usr/bin/env bash
# The whole suite: lint, then the embedded default, then PostgreSQL + Redis when reachable.
# Any non-zero pytest exit fails, including 5 (no tests collected).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORKERS="${PYTEST_WORKERS:-2}"
ran=()

echo "== ruff (lint + format check)"
.venv/bin/ruff check . || exit 1
.venv/bin/ruff format --check . || exit 1

echo "== migrations are up to date"
PLAZA_TESTING=1 $PY manage.py makemigrations --check --dry-run >/dev/null || {
  echo "models changed without a migration"; exit 1; }

# tests/browser drives Debian's Chromium (never Playwright's own downloads). Try to get it;
# when that is impossible the browser tests skip with a loud reason instead of failing.
echo "== Chromium for tests/browser"
if [ -x /usr/bin/chromium ]; then
  echo "   /usr/bin/chromium present"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "   /usr/bin/chromium missing: apt-get install chromium (log: var/apt-chromium.log)"
  mkdir -p var
  if (timeout 900 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 \
      apt-get install -y -qq chromium) >var/apt-chromium.log 2>&1 && [ -x /usr/bin/chromium ]; then
    echo "   installed /usr/bin/chromium"
  else
    echo "!!! could not install chromium (see var/apt-chromium.log): BROWSER TESTS WILL BE SKIPPED"
  fi
else
  echo "!!! /usr/bin/chromium missing and apt-get unavailable or not root: BROWSER TESTS WILL BE SKIPPED"
fi

run_suite() {
  local shape="$1"; shift
  echo "== pytest on $shape"
  env "$@" PLAZA_TESTING=1 CELERY_TASK_ALWAYS_EAGER=1 \
    $PY -m pytest -n "$WORKERS" --dist loadgroup -q --ignore=tests/browser ${PYTEST_ARGS:-}
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "pytest on $shape exited $rc (5 means no tests ran): FAILED"
    exit $rc
  fi
  # Playwright's sync API keeps an event loop running in its process, which makes every
  # later Django ORM call there refuse to run; the browser tests get a process of their own.
  echo "== pytest tests/browser on $shape"
  env "$@" PLAZA_TESTING=1 CELERY_TASK_ALWAYS_EAGER=1 \
    $PY -m pytest -p no:xdist -q tests/browser ${PYTEST_ARGS:-}
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "pytest tests/browser on $shape exited $rc: FAILED"
    exit $rc
  fi
  ran+=("$shape")
}

run_suite "embedded default (SQLite WAL, in-memory channel layer, eager Celery)"

pg_ok=0; redis_ok=0
$PY - <<'PY' && pg_ok=1
import sys, psycopg
try:
    psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3).close()
except Exception as e:
    print("PostgreSQL not reachable:", e); sys.exit(1)
PY
$PY - <<'PY' && redis_ok=1
import sys, redis
try:
    redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3).ping()
except Exception as e:
    print("Redis not reachable:", e); sys.exit(1)
PY

if [ $pg_ok = 1 ] && [ $redis_ok = 1 ]; then
  run_suite "PostgreSQL 127.0.0.1:5432 + Redis 127.0.0.1:6379" \
    DATABASE_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/plaza}" \
    REDIS_URL="${REDIS_TEST_URL:-redis://127.0.0.1:6379/0}"
elif [ "${CI:-}" = "true" ]; then
  echo "CI=true but PostgreSQL or Redis is not reachable: FAILED"
  exit 1
else
  echo "PostgreSQL + Redis not reachable: skipped the production-shape run"
fi

echo
echo "== shapes that ran:"
for s in "${ran[@]}"; do echo "   - $s"; done
