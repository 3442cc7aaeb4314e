#!/usr/bin/env bash
# The README's run command: set up whatever is missing, then start the whole assistant
# (llama-server on 127.0.0.1 + every node) without `ros2 launch`. With no microphone it speaks
# a sample question from a file. Extra arguments go to heisenberg_bringup.run_assistant (--help).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
set +u
# shellcheck disable=SC1091
source scripts/env.sh
set -u
exec python -m heisenberg_bringup.run_assistant "$@"
