#!/usr/bin/env bash
# Installs KServe's model server into its own virtualenv, tests/servers/.venv (git-ignored),
# for tests/test_http_oracle.py. KServe needs protobuf<7, which skbar's own environment
# (onnx 1.23, protobuf 7) should not be downgraded to, hence the separate virtualenv.
#
# Usage: bash scripts/setup_test_server.sh        (about 1 minute; a no-op when up to date)
# Env:   PYTHON (default python3), SKBAR_SERVER_VENV (default tests/servers/.venv)
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SKBAR_SERVER_VENV:-tests/servers/.venv}"
requirements=tests/servers/requirements.txt
stamp="$venv/.requirements.sha256"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && sha256sum --check --status "$stamp" \
    && "$venv/bin/python" -c "import kserve, onnxruntime" 2>/dev/null; then
    echo "test server virtualenv $venv is up to date"
    exit 0
fi

"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -c "import kserve, onnxruntime; from importlib.metadata import version; print('kserve', version('kserve'), 'onnxruntime', onnxruntime.__version__)"
sha256sum "$requirements" > "$stamp"
echo "test server virtualenv ready: $venv"
