#!/usr/bin/env bash
# Points Together's Python SDK (the `together` package from PyPI) at the
# simulator and runs tests/python/sdk_check.py through the ignored test
# tests/sim_python_sdk.rs. Not part of `cargo test`: it needs the network
# once, for pip.
#
#   scripts/check-python-sdk.sh            # latest `together`
#   TOGETHER_SDK_VERSION=3.1.1 scripts/check-python-sdk.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${TOGETHER_SDK_VENV:-$root/target/together-sdk-venv}"
spec="together${TOGETHER_SDK_VERSION:+==$TOGETHER_SDK_VERSION}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade "$spec"
echo "together $("$venv/bin/python" -c 'import together; print(together.__version__)')"

cd "$root"
TOGETHER_SDK_PYTHON="$venv/bin/python" \
    cargo test --all-features --test sim_python_sdk -- --ignored --nocapture
