#!/usr/bin/env bash
# Run a command in the project's environment: set up whatever is missing (scripts/setup.sh,
# quick when nothing changed), source scripts/env.sh, then exec the command from the repo root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
set +u
# shellcheck disable=SC1091
source scripts/env.sh
set -u
exec "$@"
