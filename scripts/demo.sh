#!/usr/bin/env bash
# The main job: set up, start ballenad, make busybox offline, run a container in it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

sock=/run/ballena/ballena.sock
export BALLENA_HOST="unix://$sock"
if ! .venv/bin/ballena version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup .venv/bin/ballenad --pidfile /run/ballena/ballenad.pid >>/var/log/ballenad.log 2>&1 &
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
fi
.venv/bin/ballena version
if ! .venv/bin/ballena image inspect busybox >/dev/null 2>&1; then
  .venv/bin/ballena bootstrap busybox
fi
.venv/bin/ballena images
.venv/bin/ballena run --rm busybox sh -c 'echo "Hola from container $(hostname): $(uname -sr), PID $$"'
cat <<TXT

ballenad is running (log: /var/log/ballenad.log). Drive it with the docker CLI too:
  export DOCKER_HOST=unix://$sock
  docker run --rm -it busybox sh
Stop it with: kill \$(cat /run/ballena/ballenad.pid)
TXT
