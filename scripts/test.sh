#!/usr/bin/env bash
# The README's test command: set up whatever is missing, then run every test with real parts
# (ROS 2 over DDS, llama-server with the registry GGUF, Whisper, openWakeWord, Piper).
# Extra arguments go to pytest (e.g. scripts/test.sh -k brain).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
set +u
# shellcheck disable=SC1091
source scripts/env.sh
set -u
python -m pytest "$@"
