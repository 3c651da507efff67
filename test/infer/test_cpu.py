"""The CPU's model name and flags from /proc/cpuinfo (infer/cpu.py)."""

from swiftnet_ros.infer.cpu import cpu_model, read_cpu_flags, read_cpuinfo, vector_flags

X86 = ("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx512f avx512_bf16\n\n"
       "processor\t: 1\nmodel name\t: another\nflags\t\t: fpu\n")
JETSON = ("processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU part\t: 0xd07\n\n"
          "Hardware\t: NVIDIA Tegra X2\n")


def test_x86_model_and_flags_of_the_first_cpu(tmp_path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(X86)
    assert read_cpuinfo(str(path)) == ("AMD EPYC 9R14", {"fpu", "avx512f", "avx512_bf16"})
    assert cpu_model(str(path)) == "AMD EPYC 9R14"


def test_arm_features_and_hardware(tmp_path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(JETSON)
    assert read_cpuinfo(str(path)) == ("NVIDIA Tegra X2", {"fp", "asimd", "evtstrm", "aes"})
    assert not read_cpu_flags(str(path)).intersection({"avx512_bf16", "amx_bf16"})


def test_no_file_no_flags_and_the_platform_names_the_cpu(tmp_path) -> None:
    missing = str(tmp_path / "missing")
    assert read_cpuinfo(missing) == ("", frozenset())
    assert read_cpu_flags(missing) == frozenset()
    assert isinstance(cpu_model(missing), str)


def test_vector_flags_in_a_fixed_order(tmp_path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(X86)
    assert vector_flags(str(path)) == ("avx512f", "avx512_bf16")
    path.write_text(JETSON)
    assert vector_flags(str(path)) == ()
