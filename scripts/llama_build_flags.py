#!/usr/bin/env python3
"""The CMake flags that build llama-server for this machine's CPU, and the cache folder's tag.

``portable`` (the default) targets a baseline the CPU family shares, never ``-march=native``:
a native build turns on every extension the build machine has, AMX included, and llama.cpp's
AMX path crashes while loading a GGUF on some Xeons (SIGSEGV in ggml_backend_amx_mul_mat).
On x86-64 the baseline is AVX2/FMA/F16C (every x86 CPU since 2013-2015), with a plain SSE4.2
build for the rare CPU without AVX2; on aarch64 it is armv8.2-a with dot product and fp16
(Raspberry Pi 5, Jetson Orin). ``native`` is opt-in and must pass the set-up's check first.

Usage: llama_build_flags.py VERSION [portable|native]
  -> the baseline's tag, the build's cache folder name, then one CMake flag per line.
"""

from __future__ import annotations

import hashlib
import platform
import sys
from pathlib import Path

COMMON = ('-DCMAKE_BUILD_TYPE=Release', '-DLLAMA_USE_PREBUILT_UI=OFF', '-DLLAMA_BUILD_UI=OFF',
          '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_OPENSSL=OFF',
          '-DLLAMA_CURL=OFF', '-DBUILD_SHARED_LIBS=OFF')
_X86_AVX2 = ('avx', 'avx2', 'fma', 'f16c')
_ARM_BASE = 'armv8.2-a+dotprod+fp16'


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature words of /proc/cpuinfo ('flags' on x86, 'Features' on ARM)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(':')
        if key.strip() in ('flags', 'Features'):
            return frozenset(value.split())
    return frozenset()


def choose(machine: str, flags: frozenset[str], mode: str = 'portable') -> tuple[str, tuple[str, ...]]:
    """(tag, cmake flags) for a CPU architecture (``uname -m``) and its feature words."""
    if mode == 'native':
        return f'{machine}-native', (*COMMON, '-DGGML_NATIVE=ON')
    if mode != 'portable':
        raise ValueError(f"mode must be 'portable' or 'native', got {mode!r}")
    off = '-DGGML_NATIVE=OFF'
    if machine in ('x86_64', 'amd64', 'AMD64'):
        if all(f in flags for f in _X86_AVX2):
            return 'x86_64-avx2', (*COMMON, off, '-DGGML_AVX=ON', '-DGGML_AVX2=ON', '-DGGML_FMA=ON',
                                   '-DGGML_F16C=ON', '-DGGML_BMI2=OFF', '-DGGML_AVX512=OFF',
                                   '-DGGML_AMX_TILE=OFF', '-DGGML_AMX_INT8=OFF', '-DGGML_AMX_BF16=OFF')
        return 'x86_64-sse42', (*COMMON, off, '-DGGML_SSE42=ON', '-DGGML_AVX=OFF', '-DGGML_AVX2=OFF',
                                '-DGGML_FMA=OFF', '-DGGML_F16C=OFF', '-DGGML_AVX512=OFF')
    if machine in ('aarch64', 'arm64'):
        if {'asimddp', 'fphp'} <= flags:
            return 'aarch64-armv8.2', (*COMMON, off, f'-DGGML_CPU_ARM_ARCH={_ARM_BASE}')
        return 'aarch64-armv8', (*COMMON, off, '-DGGML_CPU_ARM_ARCH=armv8-a')
    return f'{machine}-generic', (*COMMON, off)


def cache_tag(version: str, tag: str, flags: tuple[str, ...]) -> str:
    """Folder name for a build: the flags change it, so a machine never reuses a bad build."""
    digest = hashlib.sha256('\n'.join(flags).encode()).hexdigest()[:8]
    return f'llama-cpp-python-{version}-{tag}-{digest}'


def main(argv: list[str]) -> int:
    version = argv[1]
    mode = argv[2] if len(argv) > 2 else 'portable'
    cpuinfo = Path('/proc/cpuinfo').read_text() if Path('/proc/cpuinfo').exists() else ''
    tag, flags = choose(platform.machine(), cpu_flags(cpuinfo), mode)
    print(tag)
    print(cache_tag(version, tag, flags))
    print('\n'.join(flags))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
