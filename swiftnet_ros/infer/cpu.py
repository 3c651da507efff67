"""What this CPU is: its model name and its feature flags, as Linux lists them in /proc/cpuinfo.

One reader for the three questions asked of it: whether bf16 runs fast here (``backend.check_precision``),
which machine a timed ``backend: auto`` choice belongs to (``autoselect``) and which CPU a benchmark
ran on (``tools/benchmark.py``).
"""

import platform
from typing import FrozenSet, Tuple

CPUINFO = "/proc/cpuinfo"
_MODEL_KEYS = ("model name", "Hardware", "Processor")  # x86; ARM (a Jetson names its board "Hardware")
_FLAG_KEYS = ("flags", "Features")  # x86; ARM


def read_cpuinfo(path: str = CPUINFO) -> Tuple[str, FrozenSet[str]]:
    """(model name, feature flags) of the first CPU listed; ("", no flags) where the file cannot be
    read (another OS)."""
    model, flags = "", None
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in _MODEL_KEYS and not model:
                    model = value.strip()
                elif key in _FLAG_KEYS and flags is None:
                    flags = frozenset(value.split())
    except OSError:
        pass
    return model, flags or frozenset()


def cpu_model(path: str = CPUINFO) -> str:
    """The CPU's model name ("AMD EPYC ..."), else what ``platform`` says."""
    return read_cpuinfo(path)[0] or platform.processor() or platform.machine()


def read_cpu_flags(path: str = CPUINFO) -> FrozenSet[str]:
    """The CPU's feature flags (x86 "flags", ARM "Features"); empty where they cannot be read."""
    return read_cpuinfo(path)[1]


VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
"""The flags that decide convolution speed on x86 (int8: VNNI; bf16: AVX512-BF16 / AMX)."""


def vector_flags(path: str = CPUINFO) -> Tuple[str, ...]:
    """Which of VECTOR_FLAGS this CPU has: two CPUs of one model name ("AMD EPYC" under a hypervisor)
    can differ in them, and so in every speed-up."""
    flags = read_cpu_flags(path)
    return tuple(f for f in VECTOR_FLAGS if f in flags)

