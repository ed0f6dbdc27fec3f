#!/usr/bin/env bash
# `course hub`'s proxy: configurable-http-proxy from npm, exactly as requirements/hub/package-lock.json pins it,
# installed into requirements/hub/node_modules/ (`npm ci`: the registry only, nothing fetched at run time).
# Needs Node >= 18 (configurable-http-proxy 5.1.0's `engines`; Debian 12's `nodejs` is 18.19).
# Idempotent. As root it apt-installs nodejs and npm when missing; otherwise it says what to install
# (tests/test_classroom_hub.py then skips). JupyterHub itself is a Python package in requirements/lock.txt.
set -euo pipefail
cd "$(dirname "$0")/../requirements/hub"
want=$(python3 -c 'import json; print(json.load(open("package.json"))["dependencies"]["configurable-http-proxy"])')
chp=node_modules/.bin/configurable-http-proxy
if [ -x "$chp" ] && [ "$("$chp" --version 2>/dev/null)" = "$want" ]; then
  echo "hub-deps: configurable-http-proxy $want already installed"
  exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "hub-deps: installing nodejs and npm with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "hub-deps: \`course hub\` needs Node.js >= 18 and npm for configurable-http-proxy. Install them:" \
         "'sudo apt-get install nodejs npm' (Debian/Ubuntu), then run 'bash ci/hub-deps.sh' again." >&2
    exit 0
  fi
fi
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' \
  || { echo "hub-deps: Node $(node --version) is too old for configurable-http-proxy $want (needs >= 18)." >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
echo "hub-deps: configurable-http-proxy $("$chp" --version) installed (Node $(node --version))"
