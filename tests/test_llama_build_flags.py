"""The CPU baseline llama-server is built for: portable by default, AMX never, a tag per flag set."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / 'scripts' / 'llama_build_flags.py'
_spec = importlib.util.spec_from_file_location('llama_build_flags', SCRIPT)
flags_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flags_module)

# /proc/cpuinfo feature words of real machines (abridged to what matters)
SAPPHIRE_RAPIDS = 'sse4_2 avx avx2 fma f16c bmi2 avx512f avx512bw avx512_vnni amx_bf16 amx_int8 amx_tile'
EPYC_ZEN3 = 'sse4_2 avx avx2 fma f16c bmi2 sha_ni'
ATOM_NO_AVX = 'sse4_1 sse4_2 popcnt'
RASPBERRY_PI_5 = ('fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc '
                  'dcpop asimddp')
RASPBERRY_PI_4 = 'fp asimd evtstrm crc32 cpuid'


def cpuinfo(machine: str, words: str) -> str:
    key = 'flags' if machine == 'x86_64' else 'Features'
    return f'processor\t: 0\nmodel name\t: test\n{key}\t\t: {words}\n\nprocessor\t: 1\n{key}\t\t: {words}\n'


@pytest.mark.parametrize('machine, words, tag, wanted, unwanted', [
    ('x86_64', SAPPHIRE_RAPIDS, 'x86_64-avx2', ['-DGGML_AVX2=ON', '-DGGML_NATIVE=OFF', '-DGGML_AMX_INT8=OFF'],
     ['-DGGML_NATIVE=ON', '-DGGML_AMX_INT8=ON', '-DGGML_AVX512=ON']),
    ('x86_64', EPYC_ZEN3, 'x86_64-avx2', ['-DGGML_AVX2=ON', '-DGGML_FMA=ON', '-DGGML_F16C=ON'],
     ['-DGGML_NATIVE=ON']),
    ('x86_64', ATOM_NO_AVX, 'x86_64-sse42', ['-DGGML_AVX=OFF', '-DGGML_AVX2=OFF', '-DGGML_SSE42=ON'],
     ['-DGGML_AVX2=ON']),
    ('aarch64', RASPBERRY_PI_5, 'aarch64-armv8.2', ['-DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16',
                                                    '-DGGML_NATIVE=OFF'], ['-DGGML_NATIVE=ON']),
    ('aarch64', RASPBERRY_PI_4, 'aarch64-armv8', ['-DGGML_CPU_ARM_ARCH=armv8-a'], ['-DGGML_NATIVE=ON']),
    ('riscv64', 'rv64imafdc', 'riscv64-generic', ['-DGGML_NATIVE=OFF'], []),
], ids=['xeon-amx', 'epyc', 'no-avx', 'pi5', 'pi4', 'riscv'])
def test_portable_flags_for_each_cpu(machine, words, tag, wanted, unwanted):
    got_tag, flags = flags_module.choose(machine, flags_module.cpu_flags(cpuinfo(machine, words)))
    assert got_tag == tag
    for flag in wanted:
        assert flag in flags
    for flag in unwanted:
        assert flag not in flags
    assert '-DLLAMA_USE_PREBUILT_UI=OFF' in flags   # never a download at build time


def test_native_is_opt_in_and_named_apart():
    tag, flags = flags_module.choose('x86_64', frozenset(SAPPHIRE_RAPIDS.split()), 'native')
    assert tag == 'x86_64-native' and '-DGGML_NATIVE=ON' in flags
    with pytest.raises(ValueError, match='portable'):
        flags_module.choose('x86_64', frozenset(), 'fast')


def test_the_cache_folder_changes_with_the_flags():
    # A machine holding a build made with other flags (the old native one) gets a new build.
    _, portable = flags_module.choose('x86_64', frozenset(EPYC_ZEN3.split()))
    _, native = flags_module.choose('x86_64', frozenset(EPYC_ZEN3.split()), 'native')
    folders = {flags_module.cache_tag('0.3.36', 'x86_64-avx2', portable),
               flags_module.cache_tag('0.3.36', 'x86_64-avx2', native),
               flags_module.cache_tag('0.3.37', 'x86_64-avx2', portable)}
    assert len(folders) == 3
    assert all(folder.startswith('llama-cpp-python-0.3.3') for folder in folders)
