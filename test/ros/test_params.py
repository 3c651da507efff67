"""Node parameters: defaults, config/segment.yaml, validation messages, run-time changes (no ROS needed)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from swiftnet_ros.ros import params
from swiftnet_ros.ros.params import (
    ConfigError,
    NodeConfig,
    check_runtime_change,
    load_palette,
    load_yaml,
    parameter_info,
    parameter_names,
    resolve_weights,
    runtime_parameters,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEGMENT_YAML = os.path.join(REPO, "config", "segment.yaml")


def test_segment_yaml_holds_every_parameter_with_its_default():
    with open(SEGMENT_YAML) as f:
        document = yaml.safe_load(f)
    assert list(document) == [params.PARAMS_FILE_KEY] == ["/**/segmentation_node"]
    assert list(params.node_section(document)) == parameter_names()
    assert load_yaml(SEGMENT_YAML) == NodeConfig()


def test_every_parameter_has_a_description_and_a_typed_default():
    for name in parameter_names():
        info = parameter_info(name)
        assert len(info["description"]) > 10, name
        assert info["type"] in ("str", "bool", "int", "float"), name
        if info["choices"]:
            assert info["default"] in info["choices"]
        if info["low"] is not None:
            assert info["low"] <= info["default"] <= info["high"]
    safe = {"overlay_alpha", "publish_color", "publish_overlay", "error_log_period", "publish_confidence",
            "publish_compressed_labels"}
    assert set(runtime_parameters()) == safe


@pytest.mark.parametrize(
    "values, message",
    [
        ({"backend": "cuda"}, "backend = 'cuda'; expected one of: auto, torch, onnxruntime, tensorrt"),
        ({"precision": "int4"}, "precision = 'int4'; expected one of: fp32, fp16, bf16, int8"),
        ({"overlay_alpha": 1.5}, "overlay_alpha = 1.5 is out of range; expected 0.0 to 1.0"),
        ({"publish_color": "yes"}, "publish_color = 'yes' is of type string; expected type bool"),
        ({"publish_confidence": 1}, "publish_confidence = 1 is of type int; expected type bool"),
        ({"publish_compressed_labels": "on"}, "publish_compressed_labels = 'on' is of type string"),
        ({"warmup": 1.0}, "warmup = 1.0 is of type float; expected type int"),
        ({"warmup": True}, "warmup = True is of type bool"),
        ({"warmup": -1}, "warmup = -1 is out of range; expected 0 to 100"),
        ({"qos_depth": 0}, "qos_depth = 0 is out of range"),
        ({"cpu_threads": -1}, "cpu_threads = -1 is out of range; expected 0 to 1024"),
        ({"device": "gpu"}, "device = 'gpu'; expected auto, cpu, cuda or cuda:N"),
        ({"input_size": "1024*512"}, "input_size '1024\\*512' is not WIDTHxHEIGHT"),
        ({"input_size": "0x512"}, "input_size '0x512'"),
        ({"input_qos": "fast"}, "input_qos = 'fast'; expected one of: sensor_data, reliable"),
        ({"output_size": "half"}, "output_size = 'half'; expected one of: input, model"),
        ({"input_transport": "theora"}, "input_transport = 'theora'"),
        ({"palette": "rainbow"}, "palette = 'rainbow'; expected checkpoint, cityscapes, camvid or a .yaml"),
        ({"weights": " "}, "weights is empty"),
        ({"weight": "x.pt", "alpha": 1}, "unknown parameter\\(s\\) alpha, weight; valid parameters are: "),
    ],
)
def test_bad_values_give_one_clear_error(values, message):
    with pytest.raises(ConfigError, match=message) as info:
        NodeConfig.from_dict(values)
    assert "\n" not in str(info.value)


def test_valid_values_are_accepted_and_ints_become_floats():
    config = NodeConfig.from_dict({"overlay_alpha": 1, "input_size": "1024x512", "device": "cuda:1",
                                   "palette": "camvid", "input_qos": "reliable", "backend": "onnxruntime"})
    assert config.overlay_alpha == 1.0 and isinstance(config.overlay_alpha, float)
    assert config.input_hw() == (512, 1024)
    assert NodeConfig().input_hw() is None


def write(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return str(path)


def test_yaml_unknown_keys_list_the_valid_ones(tmp_path):
    document = {"segmentation_node": {"ros__parameters": {"weights": "mnv2", "gpu": 1}}}
    path = write(tmp_path, "p.yaml", document)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    text = str(info.value)
    assert path in text and "unknown parameter(s) gpu" in text
    assert all(name in text for name in parameter_names())


def test_yaml_wildcard_and_namespaced_sections_are_merged(tmp_path):
    path = write(tmp_path, "p.yaml", {"/**": {"ros__parameters": {"warmup": 0}},
                                      "/cam/segmentation_node": {"ros__parameters": {"weights": "mnv2"}},
                                      "other_node": {"ros__parameters": {"rate": 3}}})
    config = load_yaml(path)
    assert (config.warmup, config.weights) == (0, "mnv2")


@pytest.mark.parametrize(
    "document, message",
    [
        ({"segmentation_node": {"weights": "x"}}, "has no ros__parameters"),
        ({"camera": {"ros__parameters": {}}}, "no section for node 'segmentation_node'.*found: camera"),
        ("segmentation_node: [unclosed", "is not valid YAML"),
        ("- 1\n- 2\n", "expected a ROS 2 params file"),
        ({"segmentation_node": {"ros__parameters": {"overlay_alpha": "half"}}}, "overlay_alpha = 'half'"),
    ],
)
def test_bad_yaml_files(tmp_path, document, message):
    with pytest.raises(ConfigError, match=message):
        load_yaml(write(tmp_path, "p.yaml", document))


def test_missing_params_file():
    with pytest.raises(ConfigError, match="params file '/nonexistent.yaml' does not exist"):
        load_yaml("/nonexistent.yaml")


def test_runtime_changes_only_for_safe_parameters():
    config = NodeConfig()
    changed = check_runtime_change("overlay_alpha", 0.25, config)
    assert changed.overlay_alpha == 0.25 and config.overlay_alpha == 0.5
    assert check_runtime_change("publish_overlay", True, config).publish_overlay is True
    with pytest.raises(ConfigError, match="weights is read at start-up only.*restart the node"):
        check_runtime_change("weights", "rn18", config)
    with pytest.raises(ConfigError, match="out of range"):
        check_runtime_change("overlay_alpha", 2.0, config)
    with pytest.raises(ConfigError, match="is of type string; expected type bool"):
        check_runtime_change("publish_color", "false", config)
    with pytest.raises(ConfigError, match="unknown parameter 'colour'"):
        check_runtime_change("colour", True, config)


def test_resolve_weights(tmp_path, monkeypatch):
    checkpoint = tmp_path / "swiftnet_demo.pt"
    candidates = [str(tmp_path / "no.pt"), str(checkpoint)]
    monkeypatch.setattr(params, "demo_checkpoint_candidates", lambda: candidates)
    with pytest.raises(ConfigError, match="weights 'demo': the bundled checkpoint swiftnet_demo.pt was not"):
        resolve_weights("demo")
    checkpoint.write_bytes(b"x")
    assert resolve_weights("demo") == str(checkpoint)
    assert resolve_weights("mnv2") == "mnv2"
    with pytest.raises(ConfigError, match="weights file 'missing.onnx' does not exist"):
        resolve_weights("missing.onnx")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_weights(str(tmp_path / "sub" / "model"))


def test_demo_candidates_include_the_repository_demo_folder():
    assert os.path.join(REPO, "demo", "swiftnet_demo.pt") in params.demo_checkpoint_candidates()


def test_load_palette(tmp_path):
    assert load_palette("checkpoint", 19) is None
    cityscapes = load_palette("cityscapes", 19)
    assert cityscapes.shape == (19, 3) and cityscapes.dtype == np.uint8
    assert tuple(cityscapes[0]) == (128, 64, 128)
    assert load_palette("camvid", 11).shape == (11, 3)
    with pytest.raises(ConfigError, match="palette 'camvid' has shape \\(11, 3\\); expected 19 colours"):
        load_palette("camvid", 19)
    listed = write(tmp_path, "p.yaml", [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(load_palette(listed, 2), [[1, 2, 3], [4, 5, 6]])
    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps({"palette": [[9, 8, 7]]}))
    np.testing.assert_array_equal(load_palette(str(as_json), 1), [[9, 8, 7]])
    with pytest.raises(ConfigError, match="integers in 0..255"):
        load_palette(write(tmp_path, "bad.yaml", [[1, 2, 300]]), 1)
    with pytest.raises(ConfigError, match="does not exist"):
        load_palette(str(tmp_path / "none.yaml"), 1)
    with pytest.raises(ConfigError, match="could not be read"):
        bad_json = tmp_path / "bad.json"
        bad_json.write_text("{not json")
        load_palette(str(bad_json), 1)


def test_choices_come_from_the_modules_that_own_them():
    from swiftnet_ros import choices
    from swiftnet_ros.data.labels import LABEL_SETS
    from swiftnet_ros.infer import options, registry

    assert parameter_info("backend")["choices"] == choices.BACKENDS == registry.BACKENDS
    assert parameter_info("precision")["choices"] == choices.PRECISIONS == options.PRECISIONS
    assert choices.PRECISIONS == ("fp32", "fp16", "bf16", "int8")
    assert NodeConfig(precision="bf16").precision == "bf16"  # whether this machine runs it: at start-up
    assert params.BUILTIN_PALETTES == LABEL_SETS


def test_the_parameters_import_no_torch():
    """A bad parameter is one line before the model and torch load (about a second)."""
    code = "import swiftnet_ros.ros.params, sys; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=60)
    assert done.returncode == 0, done.stdout.decode(errors="replace")
