#!/usr/bin/env bash
# The README's test command: set up whatever is missing, then run every test with real parts
# (ROS 2 over DDS, llama-server with the registry GGUF, Whisper, openWakeWord, Piper).
# Arguments go to pytest (e.g. scripts/test.sh -k brain).
exec "$(dirname "${BASH_SOURCE[0]}")/in_env.sh" python -m pytest "$@"
