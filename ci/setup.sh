#!/usr/bin/env bash
# Set up the course: .venv with the exact pinned stack, libusb for tflite-support, course_lib editable.
# Idempotent: a second run only checks. Usage: bash ci/setup.sh [--here]
#   --here   install into the active Python environment (e.g. the conda env of environment.yml)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--here" ]; then
  PY=$(command -v python)
else
  if [ ! -x .venv/bin/python ]; then
    BASE=${PYTHON:-}
    if [ -z "$BASE" ]; then
      for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
          BASE=$cand; break
        fi
      done
    fi
    if [ -z "$BASE" ]; then
      echo "setup: Python 3.11 is required (TensorFlow 2.13 has no wheels for newer Pythons)." >&2
      echo "       Install it (pyenv, conda: see environment.yml, or apt) or set PYTHON=/path/to/python3.11." >&2
      exit 2
    fi
    echo "setup: creating .venv with $BASE"
    "$BASE" -m venv .venv
  fi
  PY=.venv/bin/python
fi
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 needed, got " + sys.version' 

# The lock is a complete, verified environment, so it is installed as is (--no-deps): Model Maker,
# tensorflowjs and tf-models-official declare pins that no Python 3.11 environment can meet.
stamp_dir=$("$PY" -c 'import sys; print(sys.prefix)')
stamp="$stamp_dir/.course-stack-$(cat requirements/lock.txt requirements/nodeps.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing the pinned stack (about 2 minutes the first time, ~2.7 GB)"
  "$PY" -m pip install --disable-pip-version-check -q --no-deps -r requirements/lock.txt -r requirements/nodeps.txt
  "$PY" -m pip install --disable-pip-version-check -q --no-deps -e .
  rm -f "$stamp_dir"/.course-stack-*
  touch "$stamp"
else
  echo "setup: pinned stack already installed ($(basename "$stamp"))"
fi

# tflite-support's compiled modules need libusb-1.0.so.0 (Debian package libusb-1.0-0).
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing libusb-1.0-0 with apt-get"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
  else
    echo "setup: tflite-support needs libusb-1.0.so.0. Install it: 'sudo apt-get install libusb-1.0-0'" \
         "(Debian/Ubuntu), 'conda install -c conda-forge libusb' or 'brew install libusb' (macOS)." >&2
    exit 2
  fi
fi

# The grading sandbox (course grade, course check) runs learner code under bubblewrap (Debian package bubblewrap).
if ! command -v bwrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing bubblewrap with apt-get (the grading sandbox)"
    { apt-get install -y -qq bubblewrap || { apt-get update -qq && apt-get install -y -qq bubblewrap; }; } >/dev/null
  else
    echo "setup: the grading sandbox needs bubblewrap. Install it: 'sudo apt-get install bubblewrap'" \
         "(Debian/Ubuntu) or 'sudo dnf install bubblewrap' (Fedora); without it 'course grade' refuses" \
         "unless given --no-sandbox." >&2
  fi
fi

"$PY" -c 'import tensorflow, tflite_support.metadata_writers, tensorflow_hub, course_lib' 2>/dev/null \
  || { echo "setup: the stack does not import; run: $PY -m course_lib.cli.main doctor" >&2; exit 1; }
echo "setup: done. Activate with 'source .venv/bin/activate' (or call .venv/bin/course)."
