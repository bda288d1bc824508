#!/usr/bin/env bash
# The virtualenv Patroni runs from in the drills (make drill). PostgreSQL refuses to run as root,
# so as root Patroni and PostgreSQL run as the system user pgserver, which must be able to run
# this venv's interpreter: the system Python, not one under /root.
set -euo pipefail
venv=${1:-.venv-drill}
python=${2:-python3}
if [ "$(id -u)" = 0 ] && [ -x /usr/bin/python3 ]; then
  python=/usr/bin/python3
fi
if ! "$python" -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  else
    echo "the drills need Python's venv module for $python: install python3-venv" >&2
    exit 1
  fi
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "patroni[etcd3,psycopg3]==4.1.5"
