"""The backend registry and the options dataclasses: names, checks, bench tokens, threads, building."""

import pytest
import torch

from swiftnet_ros.infer.backend_onnxruntime import OnnxRuntimeBackend
from swiftnet_ros.infer.backend_torch import TorchBackend
from swiftnet_ros.infer.options import OnnxRuntimeOptions, TensorRTOptions, TorchOptions, switch_names
from swiftnet_ros.infer.registry import (
    BACKENDS,
    BuildContext,
    backend_entry,
    build_backend,
    check_options,
    choose_backend,
    parse_backend_token,
    thread_options,
)
from swiftnet_ros.infer.weights import load_torch_weights

CPU = torch.device("cpu")


def test_every_backend_is_registered_with_its_options_class():
    assert BACKENDS == ("auto", "torch", "onnxruntime", "tensorrt")
    assert backend_entry("torch").options is TorchOptions
    assert backend_entry("onnxruntime").options is OnnxRuntimeOptions
    assert backend_entry("tensorrt").options is TensorRTOptions
    assert not backend_entry("torch").fixed_size and backend_entry("tensorrt").fixed_size
    with pytest.raises(ValueError, match="unknown backend 'tourch'; expected one of torch, onnxruntime, "
                                         "tensorrt$"):
        backend_entry("tourch")
    with pytest.raises(ValueError, match="unknown backend 'tourch'; expected one of auto, torch"):
        choose_backend("tourch", "preset")


def test_unknown_options_and_bad_values_name_themselves():
    with pytest.raises(ValueError, match="unknown torch backend option.s. cuda_graph; expected some of fuse, "
                                         "fold_bn, channels_last"):
        check_options("torch", {"cuda_graph": True})
    with pytest.raises(ValueError, match="torch backend option fuse must be true or false, got 'yes'"):
        check_options("torch", {"fuse": "yes"})
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        check_options("onnxruntime", {"threads": 0})
    with pytest.raises(ValueError, match="argmax 'gpu'"):
        check_options("tensorrt", {"argmax": "gpu"})
    with pytest.raises(ValueError, match="workspace_mb must be >= 1"):
        check_options("tensorrt", {"workspace_mb": 0})
    with pytest.raises(ValueError, match="unknown onnxruntime backend option.s. workspace_mb"):
        check_options("onnxruntime", {"workspace_mb": 64})
    # what the caller chose comes back as given: the torch defaults depend on the model and device
    assert check_options("torch", {"jit": True}) == {"jit": True}
    assert check_options("onnxruntime", None) == {}
    with pytest.raises(ValueError, match="unknown torch backend option.s. bogus"):
        TorchBackend(build_model_cpu(), CPU, bogus=True)


def build_model_cpu() -> torch.nn.Module:
    model, _ = load_torch_weights("mnv2")
    return model


def test_options_dataclasses_hold_the_defaults():
    assert TorchOptions().enabled() == ["fold_bn", "channels_last", "cudnn_benchmark"]
    assert switch_names(TorchOptions)[0] == "fuse" and "compile_head" in switch_names(TorchOptions)
    assert switch_names(OnnxRuntimeOptions) == ("spinning",) and not OnnxRuntimeOptions().spinning
    assert OnnxRuntimeOptions().optimization == "all" and TensorRTOptions().workspace_mb == 1024


def test_bench_tokens_are_checked_against_the_registry():
    assert parse_backend_token("torch+jit-fold_bn") == ("torch", {"jit": True, "fold_bn": False})
    assert parse_backend_token("onnxruntime") == ("onnxruntime", {})
    assert parse_backend_token("auto") == ("auto", {})
    with pytest.raises(ValueError, match="empty option"):
        parse_backend_token("torch+")
    with pytest.raises(ValueError, match="'torch\\+jitt': jitt not an on/off option of the torch backend"):
        parse_backend_token("torch+jitt")
    with pytest.raises(ValueError, match="threads not an on/off option of the onnxruntime backend"):
        parse_backend_token("onnxruntime+threads")
    with pytest.raises(ValueError, match="unknown backend 'tourch'"):
        parse_backend_token("tourch")


def test_thread_options_reach_the_backend_that_takes_them():
    assert thread_options("onnxruntime", 2) == {"threads": 2}
    assert thread_options("torch", 2) == {} and thread_options("tensorrt", 2) == {}
    assert thread_options("auto", 2) == {} and thread_options("onnxruntime", None) == {}
    with pytest.raises(ValueError, match="unknown backend"):
        thread_options("tourch", 2)


def test_build_backend_exports_for_fixed_size_backends_and_refuses_export_options_for_files(tmp_path):
    model = build_model_cpu()
    exports = []

    def export(size, **options):
        from swiftnet_ros.infer.export import export_onnx

        exports.append((size, options))
        return export_onnx(model, size, ["c{}".format(i) for i in range(model.config.num_classes)],
                           [[0, 0, 0]] * model.config.num_classes, **options)

    cache = tmp_path / "cache"
    context = BuildContext("mnv2", "preset", CPU, "fp32", model=model, export=export,
                           engine_cache_dir=str(cache))
    torch_backend = build_backend("torch", context, {"winograd": False}, None)
    assert isinstance(torch_backend, TorchBackend) and not torch_backend.options.winograd
    ort = build_backend("onnxruntime", context, {"threads": 1, "opset": 13}, (32, 64))
    assert isinstance(ort, OnnxRuntimeBackend) and ort.fixed_size == (32, 64)
    # on a CPU the export stops at the stride-4 logits (the fastest measured; test_stride4.py)
    assert exports == [((32, 64), {"opset": 13, "argmax": "host_stride4", "fp16": False})]
    assert ort.options.threads == 1
    # the export is made once and cached; a corrupt cache entry is ignored and remade
    cached = list((cache / "onnx").iterdir())
    assert len(cached) == 1 and "32x64_opset13_host_stride4_fp32" in cached[0].name
    build_backend("onnxruntime", context, {"threads": 1}, (32, 64))
    assert len(exports) == 1
    cached[0].write_bytes(b"truncated")
    assert build_backend("onnxruntime", context, {"threads": 1}, (32, 64)).fixed_size == (32, 64)
    assert len(exports) == 2 and cached[0].read_bytes() != b"truncated"
    build_backend("onnxruntime", context, {"threads": 1}, (64, 32))  # another size: another entry
    assert len(exports) == 3 and len(list((cache / "onnx").iterdir())) == 2
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(export((32, 64)))
    from_file = BuildContext(str(onnx_file), "onnx", CPU, "fp32")
    assert build_backend("onnxruntime", from_file, {"threads": 1}, None).fixed_size == (32, 64)
    with pytest.raises(ValueError, match="opset / argmax are export options; .*m.onnx is already exported"):
        build_backend("onnxruntime", from_file, {"argmax": "in_graph"}, None)


def test_auto_on_a_cpu_times_checkpoints_and_says_why():
    from swiftnet_ros.infer.registry import auto_reason

    # the rule where auto is not timed (backend options given: test_autoselect.py times the others)
    assert choose_backend("auto", "checkpoint", "cpu") == "onnxruntime"
    assert choose_backend("auto", "preset", "cpu") == "onnxruntime"
    assert choose_backend("auto", "checkpoint", "cuda") == "torch"
    assert choose_backend("auto", "checkpoint") == "torch"  # device not known yet
    assert choose_backend("torch", "checkpoint", "cpu") == "torch"
    assert auto_reason("auto", "checkpoint", "cpu") == (
        "auto: the faster of torch and onnxruntime here, timed at the size it runs at and cached per "
        "machine, model and size")
    assert auto_reason("torch", "checkpoint", "cpu") == "backend torch as asked"


def test_the_registry_has_one_entry_per_backend_name_and_what_each_runs_at():
    from swiftnet_ros import choices
    from swiftnet_ros.infer.registry import _ENTRIES

    assert tuple(_ENTRIES) == choices.BACKENDS[1:] and BACKENDS is choices.BACKENDS
    assert backend_entry("torch").precisions == ("fp32", "fp16", "bf16")
    assert backend_entry("onnxruntime").precisions == ("fp32", "fp16", "int8")
    assert backend_entry("tensorrt").precisions == ("fp32", "fp16")


@pytest.mark.parametrize("backend, why", [
    ("onnxruntime", "ONNX Runtime's CPU provider has no bf16 convolutions"),
    ("tensorrt", "the TensorRT engines built here are fp32 or fp16"),
])
def test_bf16_is_the_torch_backends_and_auto_picks_torch_for_it(backend, why):
    from swiftnet_ros.infer.registry import auto_reason, run_precision

    refusal = (r"^precision 'bf16' is not offered by the {} backend \(it runs fp32, fp16.*\); bf16 runs on "
               r"the torch backend only: {}$".format(backend, why))
    with pytest.raises(ValueError, match=refusal):
        run_precision(backend, "checkpoint", "bf16")
    assert run_precision("torch", "checkpoint", "bf16") == "bf16"
    for device_type in ("cpu", "cuda", None):
        assert choose_backend("auto", "checkpoint", device_type, "bf16") == "torch"
    assert choose_backend("auto", "onnx", "cpu", "bf16") == "onnxruntime"  # refused by run_precision
    assert choose_backend(backend, "checkpoint", "cpu", "bf16") == backend  # as asked: refused there
    assert auto_reason("auto", "preset", "cpu", "bf16") == "auto: precision bf16 runs on the torch backend " \
                                                           "only"
