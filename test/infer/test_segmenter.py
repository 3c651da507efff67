"""Segmenter: the agreed API, backend choice, every bad argument's error, label resizing, colours."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from swiftnet_ros.infer import SegmentationResult, Segmenter
from swiftnet_ros.infer.base import SegmenterBase
from swiftnet_ros.infer.export import export_onnx, torchscript_exporter
from swiftnet_ros.infer.segmenter import check_file_precision, choose_backend, image_to_batch, resize_labels
from swiftnet_ros.infer.weights import load_torch_weights, weights_kind
from swiftnet_ros.model import build_model, save_checkpoint

CPU = torch.device("cpu")
H, W = 64, 96
CLASSES = ["road", "car", "sky", "tree"]
PALETTE = [[128, 64, 128], [0, 0, 142], [70, 130, 180], [107, 142, 35]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    model = build_model("mnv2", num_classes=4)
    path = str(tmp_path_factory.mktemp("ckpt") / "mnv2_4.pt")
    save_checkpoint(path, model, CLASSES, PALETTE)
    return path


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory, checkpoint):
    model, meta = load_torch_weights(checkpoint)
    path = str(tmp_path_factory.mktemp("onnx") / "mnv2_4.onnx")
    export_onnx(model, (H, W), meta["class_names"], meta["palette"], path=path)
    return path


def test_segment_returns_labels_and_timings(checkpoint, image):
    seg = Segmenter(checkpoint, backend="torch", device="cpu")
    assert seg.class_names == CLASSES and seg.model_name == "mnv2" and seg.backend_name == "torch"
    assert seg.palette.dtype == np.uint8 and seg.palette.tolist() == PALETTE
    assert seg.precision == "fp32" and seg.input_size is None
    result = seg.segment(image)
    assert isinstance(result, SegmentationResult)
    assert result.labels.shape == (H, W) and result.labels.dtype == np.uint8 and result.labels.max() < 4
    assert set(result.timings) == {"preprocess", "inference", "postprocess", "total"}
    assert all(v >= 0 for v in result.timings.values())
    assert result.timings["total"] >= result.timings["inference"]
    # what the model itself says, computed here the plain way
    model, _ = load_torch_weights(checkpoint)
    with torch.no_grad():
        expected = model(torch.from_numpy(image).permute(2, 0, 1)[None].float()).argmax(1)[0].numpy()
    assert (result.labels == expected).mean() >= 0.999


def test_bgr_input_and_output_sizes(checkpoint, image):
    seg = Segmenter(checkpoint, backend="torch", device="cpu", input_size=(32, 48))
    assert seg.input_size == (32, 48)
    rgb = seg.segment(image).labels
    bgr = seg.segment(np.ascontiguousarray(image[:, :, ::-1]), rgb=False).labels
    np.testing.assert_array_equal(rgb, bgr)
    assert rgb.shape == (H, W)
    small = Segmenter(checkpoint, backend="torch", device="cpu", input_size=(32, 48), output_size="model")
    model_res = small.segment(image).labels
    assert model_res.shape == (32, 48)
    np.testing.assert_array_equal(resize_labels(torch.from_numpy(model_res)[None], (H, W))[0].numpy(), rgb)


def test_onnx_file_and_onnxruntime_from_checkpoint_agree_with_torch(checkpoint, onnx_file, image):
    torch_labels = Segmenter(checkpoint, backend="torch", device="cpu").segment(image).labels
    from_file = Segmenter(onnx_file, device="cpu", backend_options={"threads": 1})
    assert from_file.backend_name == "onnxruntime" and from_file.input_size == (H, W)
    assert from_file.class_names == CLASSES and from_file.palette.tolist() == PALETTE
    assert (from_file.segment(image).labels == torch_labels).mean() >= 0.999
    # a checkpoint through onnxruntime at native size: each image at its own size, one export per size
    native = Segmenter(checkpoint, backend="onnxruntime", device="cpu", backend_options={"threads": 1})
    assert native.input_size is None and "one onnxruntime graph per image size" in native.describe()
    assert (native.segment(image).labels == torch_labels).mean() >= 0.999
    torch_native = Segmenter(checkpoint, backend="torch", device="cpu")
    for other in (np.ascontiguousarray(image[:37, :53]), image[:1, :1].copy(), image):
        expected = torch_native.segment(other).labels
        assert (native.segment(other).labels == expected).mean() >= 0.999, other.shape  # was 92-96 %
    assert native.input_size is None and list(native._by_size) == [(37, 53), (1, 1), (H, W)]


def test_gray_images_are_segmented_as_three_equal_channels(checkpoint, image):
    seg = Segmenter(checkpoint, backend="torch", device="cpu")
    gray = np.ascontiguousarray(image[:, :, 1])
    expected = seg.segment(np.stack([gray] * 3, axis=2)).labels
    np.testing.assert_array_equal(seg.segment(gray).labels, expected)  # (H, W), as the CLI and node take
    np.testing.assert_array_equal(seg.segment(gray[:, :, None]).labels, expected)  # (H, W, 1)
    np.testing.assert_array_equal(seg.segment(gray, rgb=False).labels, expected)


def test_the_model_called_with_a_numpy_image_says_what_it_takes(image):
    model, _ = load_torch_weights("mnv2")
    with pytest.raises(TypeError, match=r"takes an N x 3 x H x W torch.Tensor.*got numpy.ndarray.*Segmenter"):
        model(image)


def test_preset_weights_are_seeded_and_do_not_touch_the_global_rng():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, _ = load_torch_weights("rn18")
    b, _ = load_torch_weights("rn18")
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_colorize_and_overlay_exact(checkpoint):
    seg = Segmenter(checkpoint, backend="torch", device="cpu", warmup=0)
    labels = np.array([[0, 1], [3, 255]], np.uint8)
    np.testing.assert_array_equal(seg.colorize(labels), np.array(
        [[PALETTE[0], PALETTE[1]], [PALETTE[3], [0, 0, 0]]], np.uint8))
    img = np.full((2, 2, 3), 100, np.uint8)
    out = seg.overlay(img, labels, alpha=0.5)
    np.testing.assert_array_equal(out[0, 0], np.rint((np.array(PALETTE[0]) + 100) / 2).astype(np.uint8))
    np.testing.assert_array_equal(out[1, 1], [100, 100, 100])  # void keeps the image


def test_set_palette_recolours_and_checks_the_class_count(checkpoint):
    seg = Segmenter(checkpoint, backend="torch", device="cpu", warmup=0)
    assert isinstance(seg, SegmenterBase)
    mine = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    seg.set_palette(mine)
    assert seg.palette.dtype == np.uint8 and seg.palette.tolist() == mine
    np.testing.assert_array_equal(seg.colorize(np.array([[1, 255]], np.uint8)), [[[4, 5, 6], [0, 0, 0]]])
    with pytest.raises(ValueError, match=r"palette has shape \(3, 3\); expected 4 colours"):
        seg.set_palette(mine[:3])
    with pytest.raises(ValueError, match="0..255"):
        seg.set_palette([[0, 0, 256]] * 4)
    assert seg.palette.tolist() == mine  # a refused palette changes nothing


def test_needs_build_until_the_first_image_sizes_a_static_backend(checkpoint, image):
    assert not Segmenter(checkpoint, backend="torch", device="cpu", warmup=0).needs_build()
    lazy = Segmenter(checkpoint, backend="onnxruntime", device="cpu", backend_options={"threads": 1})
    assert lazy.needs_build()
    lazy.segment(image)
    assert not lazy.needs_build()
    sized = Segmenter(checkpoint, backend="onnxruntime", device="cpu", input_size=(32, 48), warmup=0,
                      backend_options={"threads": 1})
    assert not sized.needs_build()


@pytest.mark.parametrize("src,dst", [((5, 7), (13, 9)), ((16, 24), (64, 96)), ((64, 96), (16, 24)),
                                     ((3, 3), (7, 11))])
def test_resize_labels_is_nearest(src, dst):
    labels = torch.randint(0, 19, (1,) + src, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    expected = F.interpolate(labels[None].float(), size=dst, mode="nearest")[0].to(torch.uint8)
    torch.testing.assert_close(resize_labels(labels, dst), expected, rtol=0, atol=0)


def test_image_to_batch():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    x = image_to_batch(img, True, CPU)
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32
    assert x[0, :, 1, 2].tolist() == img[1, 2].tolist()
    assert image_to_batch(img, False, CPU)[0, :, 1, 2].tolist() == img[1, 2, ::-1].tolist()
    assert image_to_batch(img, True, CPU, (4, 6)).shape == (1, 3, 4, 6)
    # keep_uint8: the image's own pixels as a channels-last view (no copy), unless a resize is needed
    view = image_to_batch(img, True, CPU, keep_uint8=True)
    assert view.dtype == torch.uint8 and view.shape == (1, 3, 2, 3)
    assert view.is_contiguous(memory_format=torch.channels_last)
    assert view[0, :, 1, 2].tolist() == img[1, 2].tolist()
    assert image_to_batch(img, True, CPU, (4, 6), keep_uint8=True).dtype == torch.float32


def test_choose_backend():
    assert choose_backend("auto", "engine") == "tensorrt"
    assert choose_backend("auto", "onnx") == "onnxruntime"
    assert choose_backend("tensorrt", "onnx") == "tensorrt"
    assert choose_backend("auto", "checkpoint") == "torch"
    assert choose_backend("auto", "preset") == "torch"
    assert choose_backend("onnxruntime", "checkpoint") == "onnxruntime"
    with pytest.raises(ValueError, match="backend 'torch' needs a checkpoint"):
        choose_backend("torch", "onnx")
    with pytest.raises(ValueError, match="runs only with backend 'tensorrt'"):
        choose_backend("onnxruntime", "engine")
    with pytest.raises(ValueError, match="unknown backend 'trt'"):
        choose_backend("trt", "checkpoint")


def test_file_precision():
    check_file_precision("m.onnx", "onnx", "fp32", "fp32", "onnxruntime")
    check_file_precision("m.onnx", "onnx", "fp32", "fp16", "tensorrt")  # fp16 engine from fp32 ONNX
    with pytest.raises(ValueError, match="m.onnx was exported for fp32 but precision 'fp16'"):
        check_file_precision("m.onnx", "onnx", "fp32", "fp16", "onnxruntime")
    with pytest.raises(ValueError, match="m.engine was exported for fp32 but precision 'fp16'"):
        check_file_precision("m.engine", "engine", "fp32", "fp16", "tensorrt")
    with pytest.raises(ValueError, match="exported for fp16 but precision 'fp32'"):
        check_file_precision("m.onnx", "onnx", "fp16", "fp32", "tensorrt")


# ------------------------------------------------------------------ every bad argument
def test_bad_arguments_give_clear_errors(checkpoint, onnx_file, tmp_path, image):
    with pytest.raises(ValueError, match="unknown backend 'tflite'; expected one of auto, torch, onnx"):
        Segmenter(checkpoint, backend="tflite", device="cpu")
    with pytest.raises(ValueError, match="precision 'fp16' needs a CUDA device"):
        Segmenter(checkpoint, precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        Segmenter(checkpoint, precision="int4", device="cpu")
    with pytest.raises(ValueError, match="precision 'int8' is not offered by the torch backend"):
        Segmenter(checkpoint, backend="torch", precision="int8", device="cpu")
    with pytest.raises(ValueError, match="precision 'int8' needs an int8 ONNX file, not a checkpoint"):
        Segmenter(checkpoint, precision="int8", device="cpu")
    with pytest.raises(FileNotFoundError, match="weights '.*missing.pt' not found"):
        Segmenter(str(tmp_path / "missing.pt"), device="cpu")
    with pytest.raises(ValueError, match="weights must be a file path or a preset name"):
        weights_kind("")
    with pytest.raises(ValueError, match="output_size 'half'"):
        Segmenter(checkpoint, device="cpu", output_size="half")
    with pytest.raises(ValueError, match="warmup must be a non-negative integer"):
        Segmenter(checkpoint, device="cpu", warmup=-1)
    with pytest.raises(ValueError, match="input_size must be"):
        Segmenter(checkpoint, device="cpu", input_size=(0, 10))
    with pytest.raises(ValueError, match="unknown torch backend option.*cuda_graph\\b"):
        Segmenter(checkpoint, backend="torch", device="cpu", backend_options={"cuda_graph": True})
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device"):
        Segmenter(checkpoint, backend="torch", device="cpu", backend_options={"cuda_graphs": True})
    with pytest.raises(ValueError, match=r"fixed input size of 96x64 \(WIDTHxHEIGHT\); 48x32 was requested"):
        Segmenter(onnx_file, device="cpu", input_size=(32, 48))  # said in the order users type sizes
    with pytest.raises(ValueError, match="backend 'torch' needs a checkpoint or a preset, not an ONNX file"):
        Segmenter(onnx_file, backend="torch", device="cpu")
    with pytest.raises(RuntimeError, match="TensorRT is not installed"):
        Segmenter(checkpoint, backend="tensorrt", device="cpu")
    seg = Segmenter(checkpoint, backend="torch", device="cpu", warmup=0)
    with pytest.raises(ValueError, match="expected a uint8 image, got dtype float32"):
        seg.segment(image.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) or \(H, W\) gray image, got shape \(64, 96, 4\)"):
        seg.segment(np.zeros((H, W, 4), np.uint8))
    with pytest.raises(ValueError, match="numpy image, got list"):
        seg.segment([[0, 0, 0]])
    with pytest.raises(ValueError, match="warm_up needs a known input size"):
        seg.warm_up()
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"not an onnx file")
    with pytest.raises(ValueError, match="foreign.onnx is not a readable ONNX model"):
        Segmenter(str(foreign), device="cpu")


def test_onnx_without_metadata_is_refused(tmp_path):
    import onnx

    model = build_model("rn18", num_classes=3).eval()
    path = str(tmp_path / "bare.onnx")
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), path, opset_version=13,
                          **torchscript_exporter())
    onnx.checker.check_model(onnx.load(path))
    with pytest.raises(ValueError, match="has no swiftnet_ros metadata"):
        Segmenter(path, device="cpu")


def test_bf16_runs_on_torch_under_auto_and_is_refused_by_the_exported_graph_backends(checkpoint, onnx_file,
                                                                                     image, monkeypatch):
    from swiftnet_ros.infer import backend

    try:
        backend.check_precision("bf16", CPU)
    except ValueError as missing:  # no bf16 here: only the refusals below, on faked CPU flags
        monkeypatch.setattr(backend, "read_cpu_flags", lambda: frozenset({"amx_bf16"}))
        monkeypatch.setattr(backend, "cpu_has_bf16_kernels", lambda: True)
        print("bf16 not run:", missing)
    else:
        seg = Segmenter(checkpoint, precision="bf16", device="cpu", warmup=0)
        assert (seg.backend_name, seg.precision, seg.backend.precision) == ("torch", "bf16", "bf16")
        assert seg.backend_reason == "auto: precision bf16 runs on the torch backend only"
        fp32 = Segmenter(checkpoint, backend="torch", device="cpu", warmup=0)
        assert (seg.segment(image).labels == fp32.segment(image).labels).mean() >= 0.99
    refusal = "precision 'bf16' is not offered by the onnxruntime backend .*; bf16 runs on the torch backend"
    with pytest.raises(ValueError, match=refusal):
        Segmenter(checkpoint, backend="onnxruntime", precision="bf16", device="cpu")
    with pytest.raises(ValueError, match=refusal):
        Segmenter(onnx_file, precision="bf16", device="cpu")
