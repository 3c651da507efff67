"""TensorRT without TensorRT: API selection, engine cache keys and cache logic, the ONNX it consumes, errors.

TensorRT cannot be installed here; what runs only with it (engine build, deserialisation, execution)
is listed as unverified in the README. Everything below is the real code, not a stand-in.
"""

import importlib.util
import logging
import os

import onnx
import pytest

from swiftnet_ros.commands.main import main
from swiftnet_ros.infer.backend_tensorrt import (
    engine_cache_key,
    import_tensorrt,
    load_or_build_engine,
    parse_version,
    select_tensorrt_features,
)
from swiftnet_ros.infer.export import export_onnx
from swiftnet_ros.infer.weights import load_torch_weights

HAS_TRT = importlib.util.find_spec("tensorrt") is not None

# Attribute names of ICudaEngine / IExecutionContext / IBuilderConfig and the members of
# NetworkDefinitionCreationFlag, as the TensorRT Python API documents them per release.
ENGINE_8_2 = ["num_bindings", "get_binding_name", "binding_is_input", "get_binding_shape",
              "get_binding_dtype", "get_binding_index", "create_execution_context", "serialize",
              "max_batch_size"]
CONTEXT_8_2 = ["execute_v2", "execute_async_v2", "execute_async", "set_binding_shape", "get_binding_shape"]
CONFIG_8_2 = ["max_workspace_size", "set_flag", "create_timing_cache", "set_timing_cache", "get_timing_cache"]
FLAGS_8 = ["EXPLICIT_BATCH", "EXPLICIT_PRECISION"]
ENGINE_8_6 = ENGINE_8_2 + ["num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_shape",
                           "get_tensor_dtype"]
CONTEXT_8_6 = CONTEXT_8_2 + ["set_tensor_address", "execute_async_v3", "set_input_shape"]
CONFIG_8_6 = CONFIG_8_2 + ["set_memory_pool_limit"]
ENGINE_10 = ["num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_shape", "get_tensor_dtype",
             "create_execution_context", "serialize"]
CONTEXT_10 = ["execute_v2", "set_tensor_address", "execute_async_v3", "set_input_shape"]
CONFIG_10 = ["set_memory_pool_limit", "set_flag", "create_timing_cache", "set_timing_cache",
             "get_timing_cache"]
FLAGS_10 = ["EXPLICIT_BATCH", "STRONGLY_TYPED"]

# onnx-tensorrt release/8.2-GA docs/operators.md (opset <= 13); the ops a SwiftNet export needs
# (PyTorch 1.10's exporter writes a padded average pooling as Pad + AveragePool).
TRT_8_2_OPS = {"Add", "ArgMax", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant",
               "Conv", "Div", "Identity", "MatMul", "MaxPool", "Mul", "Pad", "Relu", "Resize", "Shape",
               "Slice", "Sub", "Gather", "Unsqueeze", "Reshape", "Transpose"}
TRT_8_2_RESIZE = {"coordinate_transformation_mode": {"half_pixel", "pytorch_half_pixel",
                                                     "tf_half_pixel_for_nn", "asymmetric", "align_corners"},
                  "mode": {"nearest", "linear"},
                  "nearest_mode": {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}}


# ------------------------------------------------------------------ API selection
def test_tensorrt_8_2_jetpack_uses_bindings_and_max_workspace_size():
    f = select_tensorrt_features("8.2.1.8", ENGINE_8_2, CONTEXT_8_2, CONFIG_8_2, FLAGS_8)
    assert f.api == "bindings" and f.explicit_batch_flag and not f.memory_pool_limit
    assert f.version == (8, 2, 1, 8)


def test_tensorrt_8_6_prefers_named_tensors():
    f = select_tensorrt_features("8.6.1", ENGINE_8_6, CONTEXT_8_6, CONFIG_8_6, FLAGS_8)
    assert f.api == "named_tensors" and f.explicit_batch_flag and f.memory_pool_limit


def test_tensorrt_10_named_tensors_and_no_explicit_batch_flag():
    f = select_tensorrt_features("10.3.0", ENGINE_10, CONTEXT_10, CONFIG_10, FLAGS_10)
    assert f.api == "named_tensors" and not f.explicit_batch_flag and f.memory_pool_limit


def test_half_a_named_api_falls_back_to_bindings():
    # num_io_tensors on the engine but no execute_async_v3 on the context: not usable as named tensors
    f = select_tensorrt_features("8.4.3", ENGINE_8_6, CONTEXT_8_2, CONFIG_8_6, FLAGS_8)
    assert f.api == "bindings" and f.memory_pool_limit


def test_unusable_tensorrt_versions_are_refused():
    with pytest.raises(ValueError, match="TensorRT 7.1.3 is too old; expected >= 8.0"):
        select_tensorrt_features("7.1.3", ENGINE_8_2, CONTEXT_8_2, CONFIG_8_2, FLAGS_8)
    with pytest.raises(ValueError, match="offers neither the named-tensor API"):
        select_tensorrt_features("11.0", ["serialize"], ["execute_v2"], CONFIG_10, [])
    with pytest.raises(ValueError, match="cannot parse TensorRT version 'abc'"):
        parse_version("abc")
    assert parse_version("10.0.0b6") == (10, 0, 0)


# ------------------------------------------------------------------ engine cache
BASE = dict(model_hash="ab" * 32, input_size=(512, 1024), precision="fp16", gpu_name="NVIDIA Tegra X2",
            trt_version="8.2.1.8")


def test_engine_cache_key_changes_with_every_component():
    base = engine_cache_key(**BASE)
    assert base == engine_cache_key(**BASE)
    assert base.endswith(".engine") and "/" not in base and " " not in base
    changes = {"model_hash": "cd" * 32, "input_size": (1024, 2048), "precision": "fp32",
               "gpu_name": "NVIDIA H100 80GB HBM3", "trt_version": "10.3.0"}
    keys = {base}
    for field, value in changes.items():
        key = engine_cache_key(**dict(BASE, **{field: value}))
        assert key != base, field
        keys.add(key)
    assert len(keys) == 1 + len(changes)
    # height and width are not interchangeable
    assert engine_cache_key(**dict(BASE, input_size=(1024, 512))) != base
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        engine_cache_key(**dict(BASE, precision="int8"))
    with pytest.raises(ValueError, match="input_size must be"):
        engine_cache_key(**dict(BASE, input_size=(0, 5)))


def test_engine_cache_builds_once_then_reuses(tmp_path):
    path = str(tmp_path / "cache" / "model.engine")
    builds = []

    def build() -> bytes:
        builds.append(1)
        return b"ENGINE-%d" % len(builds)

    def is_valid(data: bytes) -> bool:
        return data.startswith(b"ENGINE-")

    data, built = load_or_build_engine(path, build, is_valid)
    assert (data, built) == (b"ENGINE-1", True) and open(path, "rb").read() == b"ENGINE-1"
    data, built = load_or_build_engine(path, build, is_valid)
    assert (data, built) == (b"ENGINE-1", False) and len(builds) == 1
    data, built = load_or_build_engine(path, build, is_valid, force_rebuild=True)
    assert (data, built) == (b"ENGINE-2", True) and open(path, "rb").read() == b"ENGINE-2"
    assert os.listdir(str(tmp_path / "cache")) == ["model.engine"]  # no temporary files left


def test_engine_cache_rebuilds_a_corrupt_engine_with_a_log_line(tmp_path, caplog):
    path = str(tmp_path / "model.engine")
    with open(path, "wb") as f:
        f.write(b"\x00garbage from an older TensorRT")
    with caplog.at_level(logging.WARNING, logger="swiftnet_ros.infer.backend_tensorrt"):
        data, built = load_or_build_engine(path, lambda: b"ENGINE-new", lambda d: d.startswith(b"ENGINE-"))
    assert built and data == b"ENGINE-new" and open(path, "rb").read() == b"ENGINE-new"
    assert any("stale or corrupt" in r.getMessage() and path in r.getMessage() for r in caplog.records)


def test_engine_cache_refuses_a_build_that_does_not_deserialise(tmp_path):
    path = str(tmp_path / "model.engine")
    with pytest.raises(RuntimeError, match="does not deserialise"):
        load_or_build_engine(path, lambda: b"bad", lambda d: False)
    assert not os.path.exists(path)


# ------------------------------------------------------------------ the ONNX TensorRT 8.2 consumes
@pytest.mark.parametrize("preset,argmax", [("jetson-tx2", "in_graph"), ("mnv2", "host")])
def test_exported_onnx_fits_tensorrt_8_2(preset, argmax):
    model, meta = load_torch_weights(preset)
    proto = onnx.load_from_string(export_onnx(model, (64, 96), meta["class_names"], meta["palette"],
                                              argmax=argmax))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [13]
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= TRT_8_2_OPS, ops - TRT_8_2_OPS
    for node in proto.graph.node:
        if node.op_type == "Resize":
            for attr in node.attribute:
                if attr.name in TRT_8_2_RESIZE:
                    assert attr.s.decode() in TRT_8_2_RESIZE[attr.name], (attr.name, attr.s)
    for value in list(proto.graph.input) + list(proto.graph.output):  # static shapes, batch 1
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        assert all(d > 0 for d in dims) and dims[0] == 1
    out = proto.graph.output[0].type.tensor_type.elem_type
    # in_graph ends in ArgMax -> Cast(int32): TensorRT 8.x has no int64 tensors
    assert out == (onnx.TensorProto.INT32 if argmax == "in_graph" else onnx.TensorProto.FLOAT)
    if preset == "jetson-tx2":
        modes = {a.s.decode() for n in proto.graph.node if n.op_type == "Resize" for a in n.attribute
                 if a.name == "mode"}
        assert modes == {"nearest"}  # the TX2 model: no bilinear resizing anywhere


# ------------------------------------------------------------------ without TensorRT: clear errors
@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here")
def test_missing_tensorrt_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(RuntimeError, match="TensorRT is not installed"):
        import_tensorrt()
    model, meta = load_torch_weights("mnv2")
    path = str(tmp_path / "m.onnx")
    export_onnx(model, (64, 96), meta["class_names"], meta["palette"], path=path)
    assert main(["build-engine", "--onnx", path, "--fp16"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("swiftnet-ros build-engine: error: TensorRT is not installed") and "\n" not in err
    assert not os.path.exists(str(tmp_path / "m.engine"))


def test_build_engine_cli_checks_its_onnx_first(tmp_path, capsys):
    assert main(["build-engine", "--onnx", str(tmp_path / "missing.onnx")]) == 2
    err = capsys.readouterr().err
    assert "ONNX file" in err and "missing.onnx" in err and "not found" in err


@pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here")
def test_segmenter_with_tensorrt_fails_at_construction(tmp_path):
    from swiftnet_ros.infer import Segmenter

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not really an engine")
    with pytest.raises(RuntimeError, match="TensorRT is not installed"):
        Segmenter(str(engine), device="cpu")  # an engine file selects the tensorrt backend
    with pytest.raises(RuntimeError, match="TensorRT is not installed"):
        Segmenter("rn18", backend="tensorrt", device="cpu")
