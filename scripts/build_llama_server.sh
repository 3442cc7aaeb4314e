#!/usr/bin/env bash
# Print the path of a llama-server binary, building it once per machine if needed.
#
# Order: $HEISENBERG_LLAMA_SERVER, then a llama-server on PATH (a robot's own build), then
# the cached build in $HEISENBERG_CACHE/llama-server/<version>-<cpu baseline>-<flags hash>/.
# No registry ships a prebuilt server that runs on every CPU, so the cache is filled by
# building the `llama-server` target from the llama.cpp tree vendored in the
# llama-cpp-python sdist (~7 min on 2 cores), for a portable CPU baseline
# (scripts/llama_build_flags.py says which and why). HEISENBERG_LLAMA_BUILD=native builds
# for this very CPU instead, and keeps that build only if it serves the GGUF
# (python -m heisenberg_bringup.check llama, so the workspace must be built and sourced);
# otherwise it falls back to the portable build.
#
# Compiler and pip output go to a log file beside the build (its path is printed); the
# screen gets a progress line. The web UI download is turned off: no network at build
# time beyond the package registry.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${HEISENBERG_CACHE:-$HOME/.cache/heisenberg}"
PY="${PYTHON:-python3}"
MODE="${HEISENBERG_LLAMA_BUILD:-portable}"

if [[ -n "${HEISENBERG_LLAMA_SERVER:-}" ]]; then
  [[ -x "$HEISENBERG_LLAMA_SERVER" ]] || { echo "HEISENBERG_LLAMA_SERVER=$HEISENBERG_LLAMA_SERVER is not executable" >&2; exit 1; }
  echo "$HEISENBERG_LLAMA_SERVER"; exit 0
fi
if command -v llama-server >/dev/null 2>&1; then
  command -v llama-server; exit 0
fi

# build MODE: prints the binary's path; the build's output goes to its log file.
build() {
  local mode="$1" tag flags dest log work src start pid
  mapfile -t flags < <("$PY" "$HERE/llama_build_flags.py" "$LLAMA_CPP_PYTHON_VERSION" "$mode")
  (( ${#flags[@]} > 2 )) || { echo "scripts/llama_build_flags.py gave no build flags" >&2; return 1; }
  tag="${flags[0]}"; dest="$CACHE/llama-server/${flags[1]}"; flags=("${flags[@]:2}")
  if [[ -x "$dest/llama-server" ]]; then echo "$dest/llama-server"; return 0; fi
  for tool in cmake c++ make; do
    command -v "$tool" >/dev/null || { echo "building llama-server needs '$tool' (apt-get install cmake g++ make)" >&2; return 1; }
  done
  mkdir -p "$dest"
  log="$dest/build.log"
  : > "$log"
  work="$(mktemp -d "${TMPDIR:-/tmp}/llama-build.XXXXXX")"
  start=$(date +%s)
  echo "    building llama-server for $tag (once per machine, ~7 min on 2 cores); log: $log" >&2
  # pip builds the sdist's metadata in an isolated environment (it fetches scikit-build-core).
  if ! "$PY" -m pip download --no-deps --no-binary :all: --dest "$work" \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >>"$log" 2>&1; then
    echo "    pip download of llama-cpp-python $LLAMA_CPP_PYTHON_VERSION failed; last lines of $log:" >&2
    tail -n 15 "$log" >&2; rm -rf "$work"; return 1
  fi
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work" --wildcards '*/vendor/llama.cpp/*'
  src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
  if ! cmake -S "$src" -B "$work/build" "${flags[@]}" >>"$log" 2>&1; then
    echo "    cmake configure failed; last lines of $log:" >&2
    tail -n 20 "$log" >&2; rm -rf "$work"; return 1
  fi
  cmake --build "$work/build" --target llama-server -j"$(nproc)" >>"$log" 2>&1 &
  pid=$!
  progress "$pid" "$log" "$start"
  if ! wait "$pid"; then
    echo "    llama-server build failed; last lines of $log:" >&2
    grep -E 'error|Error' "$log" | tail -n 10 >&2 || true
    tail -n 10 "$log" >&2; rm -rf "$work"; return 1
  fi
  install -m 755 "$work/build/bin/llama-server" "$dest/llama-server.tmp"
  mv "$dest/llama-server.tmp" "$dest/llama-server"
  rm -rf "$work"
  echo "    built $dest/llama-server in $(( $(date +%s) - start )) s" >&2
  echo "$dest/llama-server"
}

# progress PID LOG START: the build's percentage, in place on a terminal, else once a minute.
progress() {
  local pid="$1" log="$2" start="$3" pct last=0 now
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    pct="$(grep -oE '^\[ *[0-9]+%\]' "$log" 2>/dev/null | tail -n 1 | tr -dc '0-9')"
    now=$(( $(date +%s) - start ))
    if [[ -t 2 ]]; then
      printf '\r    compiling: %3s%% (%d s)' "${pct:-0}" "$now" >&2
    elif (( now - last >= 60 )); then
      printf '    compiling: %s%% (%d s)\n' "${pct:-0}" "$now" >&2; last=$now
    fi
  done
  [[ -t 2 ]] && printf '\n' >&2
  return 0
}

if [[ "$MODE" == native ]]; then
  if native="$(build native)" && "$PY" -m heisenberg_bringup.check --llama-server "$native" llama >&2; then
    echo "$native"; exit 0
  fi
  echo "    the native llama-server did not pass its check: using the portable build" >&2
fi
build portable
