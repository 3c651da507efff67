"""Start-up errors are one clear line and a non-zero exit; SIGINT / SIGTERM end the node cleanly and fast."""

import signal

import pytest
from node_helpers import FAST_MODEL, NodeProcess, unique_namespace


def fatal_lines(output):
    return [line for line in output.splitlines() if "FATAL" in line or "Error" in line or "Traceback" in line]


@pytest.mark.parametrize(
    "params, code, message",
    [
        ({"backend": "cuda"}, 2, "cannot start: parameter backend = 'cuda'; expected one of: auto, torch"),
        ({"overlay_alpha": 3.0}, 2, "overlay_alpha = 3.0 is out of range; expected 0.0 to 1.0"),
        ({"weights": "mnv2", "colour": "red"}, 2, "unknown parameter(s) colour; valid parameters are: "),
        ({"weights": "nomodel"}, 1, "weights 'nomodel' not found"),
    ],
)
def test_bad_parameter_is_one_clear_line_and_a_non_zero_exit(params, code, message):
    with NodeProcess(unique_namespace("bad"), params) as node:
        assert node.wait_exit(60) == code, node.output()
        lines = fatal_lines(node.output())
        assert len(lines) == 1, node.output()
        assert message in lines[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_an_idle_node_within_2_s_without_traceback(sig):
    with NodeProcess(unique_namespace("sig"), FAST_MODEL) as node:
        node.wait_ready()
        code, seconds = node.stop(sig)
        assert code == 0, node.output()
        assert seconds < 2.0
        assert "Traceback" not in node.output() and "Error" not in node.output()
