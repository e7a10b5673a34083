#!/usr/bin/env bash
# Everything Ballena needs on a fresh Debian machine, installed once (idempotent):
# Debian packages for the runtime, networking and registry tests, a virtualenv with the
# pinned Python dependencies (pyproject.toml), and the dashboard built from ui/ with the npm
# packages of its lock file (Chromium runs its browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(busybox-static runc tini nftables iptables iproute2 skopeo docker-registry debootstrap python3-venv gcc libc6-dev
          chromium fonts-dejavu-core)
# Node.js and npm build the dashboard: the machine's own when it has them (Vite 8 needs Node 20.19
# or newer; Debian 12's nodejs is 18), Debian's otherwise.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq
    # The registry package would start a service; this machine may have no init system for it.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
# Docker Compose v1 (1.29.2), a peer the tests drive, in a virtualenv of its own: it needs old
# build tools (Cython 0.29 for PyYAML 5.4, built without isolation) and docker-py 6.
if [ ! -x .venv-compose1/bin/docker-compose ]; then
  python3 -m venv .venv-compose1
  .venv-compose1/bin/pip install -q --disable-pip-version-check 'cython==0.29.37' 'setuptools==69.5.1' 'wheel==0.43.0'
  .venv-compose1/bin/pip install -q --disable-pip-version-check --no-build-isolation 'PyYAML==5.4.1'
  .venv-compose1/bin/pip install -q --disable-pip-version-check 'docker-compose==1.29.2' 'docker==6.1.3' 'requests==2.31.0'
fi
# Bytecode ahead of time: an editable install writes none, and where PYTHONDONTWRITEBYTECODE is
# set every CLI command would compile its modules again on each start (about 25 ms here).
.venv/bin/python -m compileall -q src/ballena >/dev/null

# The dashboard (`ballena ui`): the pinned npm packages, then Vite's build into the package.
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npx vite build --logLevel error)
