"""Start-up errors are one clear line and a non-zero exit; SIGINT / SIGTERM end the node cleanly and fast."""

import os
import re
import signal

import pytest
import yaml
from model_helpers import bf16_missing
from node_helpers import FAST_MODEL, REPO, NodeProcess, unique_namespace

from swiftnet_ros.ros.params import PARAMS_FILE_KEY


def fatal_lines(output):
    return [line for line in output.splitlines() if "FATAL" in line or "Error" in line or "Traceback" in line]


@pytest.mark.parametrize(
    "params, code, message",
    [
        ({"backend": "cuda"}, 2, "cannot start: parameter backend = 'cuda'; expected one of: auto, torch"),
        ({"overlay_alpha": 3.0}, 2, "overlay_alpha = 3.0 is out of range; expected 0.0 to 1.0"),
        ({"weights": "mnv2", "colour": "red"}, 2, "unknown parameter(s) colour; valid parameters are: "),
        ({"--params-file": "nomodel"}, 2, "weights 'nomodel' not found"),  # a bad file: configuration
        ({"weights": "mnv2", "precision": "fp16", "device": "cpu"}, 2,
         "precision 'fp16' needs a CUDA device"),  # a configuration error, not a run-time one
        ({"weights": "mnv2", "backend": "onnxruntime", "precision": "bf16", "device": "cpu"}, 2,
         bf16_missing() or "precision 'bf16' is not offered by the onnxruntime backend"),  # torch only
        ({"weights": "mnv2", "input_size": "0x0"}, 2,
         "input_size = 0 is of type int; expected a WIDTHxHEIGHT string such as 1024x512"),
    ],
)
def test_bad_parameter_is_one_clear_line_and_a_non_zero_exit(params, code, message, tmp_path):
    extra = []
    if "--params-file" in params:  # config/segment.yaml with other weights: it must apply in a namespace
        with open(os.path.join(REPO, "config", "segment.yaml")) as f:
            document = yaml.safe_load(f)
        document[PARAMS_FILE_KEY]["ros__parameters"]["weights"] = params.pop("--params-file")
        (tmp_path / "segment.yaml").write_text(yaml.safe_dump(document))
        extra = ["--params-file", str(tmp_path / "segment.yaml")]
    with NodeProcess(unique_namespace("bad"), params, extra_ros_args=extra) as node:
        assert node.wait_exit(60) == code, node.output()
        lines = fatal_lines(node.output())
        assert len(lines) == 1, node.output()
        assert message in lines[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_an_idle_node_within_2_s_without_traceback(sig):
    with NodeProcess(unique_namespace("sig"), FAST_MODEL) as node:
        node.wait_ready()
        assert "loading mnv2 (backend torch" in node.output()
        assert re.search(r"model ready in \d+\.\d s: mnv2 \(19 classes\)", node.output()), node.output()
        code, seconds = node.stop(sig)
        assert code == 0, node.output()
        assert seconds < 2.0
        assert "Traceback" not in node.output() and "Error" not in node.output()


def test_an_error_during_a_signals_shutdown_counts_as_that_shutdown():
    """run()'s loop re-raises an error from spin_once unless the context shuts down right after it."""
    import threading

    import rclpy

    from swiftnet_ros.ros.node import _shutdown_follows

    rclpy.init(args=[])
    try:
        assert not _shutdown_follows(timeout=0.05)  # a running context: a real error
        threading.Timer(0.05, rclpy.shutdown).start()
        assert _shutdown_follows(timeout=5.0)  # the shutdown lands a moment after the error
    finally:
        rclpy.try_shutdown()
    assert _shutdown_follows(timeout=0.0)
