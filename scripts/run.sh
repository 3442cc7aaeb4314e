#!/usr/bin/env bash
# The README's run command: set up whatever is missing, then start the whole assistant
# (llama-server on 127.0.0.1 + every node) without `ros2 launch`. With no microphone it speaks
# a sample question from a file. Arguments go to heisenberg_bringup.run_assistant (--help).
exec "$(dirname "${BASH_SOURCE[0]}")/in_env.sh" python -m heisenberg_bringup.run_assistant "$@"
