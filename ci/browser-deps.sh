#!/usr/bin/env bash
# System packages for the browser tests (tests/test_lab_browser.py): Debian's Chromium and ChromeDriver.
# Playwright (pinned in requirements/lock.txt) drives /usr/bin/chromium; it never downloads a browser.
# Idempotent. As root it installs with apt-get; otherwise it says what to install (the tests then skip).
set -euo pipefail
if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null; then
  echo "browser-deps: $(/usr/bin/chromium --version 2>/dev/null | head -n1) already installed"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "browser-deps: installing chromium and chromium-driver with apt-get (about 300 MB)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  echo "browser-deps: $(/usr/bin/chromium --version 2>/dev/null | head -n1) installed"
else
  echo "browser-deps: Chromium is not installed, so tests/test_lab_browser.py will be skipped." \
       "Install it: 'sudo apt-get install chromium chromium-driver' (Debian/Ubuntu), or run" \
       "'sudo bash ci/browser-deps.sh'; elsewhere set COURSE_CHROMIUM=/path/to/chromium." >&2
fi
