"""bench/bench_cpu.py names its files by the CPU's kind and vector unit, so runs on two CPUs of one
model name ("AMD EPYC" with and without AVX-512) never overwrite each other."""

from script_helpers import load_script


def test_cpu_slug_names_the_kind_and_the_widest_vector_unit():
    slug = load_script("bench", "bench_cpu.py").cpu_slug
    assert slug("AMD EPYC", ("avx2",)) == "epyc-avx2"
    assert slug("AMD EPYC", ("avx2", "avx512f", "avx512_vnni")) == "epyc-avx512"
    assert slug("Intel(R) Xeon(R) Platinum 8488C", ("avx2", "avx512f", "amx_bf16")) == "xeon-amx"
    assert slug("NVIDIA Tegra X2", ()) == "nvidia-tegra-x2"
