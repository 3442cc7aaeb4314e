#!/usr/bin/env bash
# Print the path of a llama-server binary, building it once per machine if needed.
#
# Order: $HEISENBERG_LLAMA_SERVER, then a llama-server on PATH (a robot's own build),
# then the cached build in $HEISENBERG_CACHE/llama-server/<version>/. No registry ships a
# prebuilt server that runs on this CPU, so the cache is filled by building the
# `llama-server` target from the llama.cpp tree vendored in the llama-cpp-python sdist
# (~6 min on 2 cores). The web UI download is turned off: no network at build time
# beyond the package registry.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
CACHE="${HEISENBERG_CACHE:-$HOME/.cache/heisenberg}"
DEST="$CACHE/llama-server/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION"
PY="${PYTHON:-python3}"

if [[ -n "${HEISENBERG_LLAMA_SERVER:-}" ]]; then
  [[ -x "$HEISENBERG_LLAMA_SERVER" ]] || { echo "HEISENBERG_LLAMA_SERVER=$HEISENBERG_LLAMA_SERVER is not executable" >&2; exit 1; }
  echo "$HEISENBERG_LLAMA_SERVER"; exit 0
fi
if command -v llama-server >/dev/null 2>&1; then
  command -v llama-server; exit 0
fi
if [[ -x "$DEST/llama-server" ]]; then
  echo "$DEST/llama-server"; exit 0
fi

for tool in cmake c++ make; do
  command -v "$tool" >/dev/null || { echo "building llama-server needs '$tool' (apt-get install cmake g++ make)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/llama-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "llama-server: building from the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist (once per machine, ~6 min)" >&2
"$PY" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
  --dest "$work" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2 \
  || "$PY" -m pip download --quiet --no-deps --no-binary :all: --dest "$work" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work" --wildcards '*/vendor/llama.cpp/*'
src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON >&2
cmake --build "$work/build" --target llama-server -j"$(nproc)" >&2
mkdir -p "$DEST"
install -m 755 "$work/build/bin/llama-server" "$DEST/llama-server.tmp"
mv "$DEST/llama-server.tmp" "$DEST/llama-server"
echo "$DEST/llama-server"
