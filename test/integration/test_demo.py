"""``swiftnet-ros demo``: a short run end to end (node, play-bag and recorder as real processes)."""

import argparse
import json
import os
import subprocess
import sys

import pytest

from swiftnet_ros.commands import demo as demo_command
from swiftnet_ros.commands.main import report_error
from swiftnet_ros.ros import params
from swiftnet_ros.tools import demo
from swiftnet_ros.tools.processes import free_domain_id

SUMMARY_KEYS = {"frames_published", "frames_in", "frames_out", "dropped", "latency_ms_p50", "latency_ms_p95",
                "miou"}


def _demo_weights():
    """The bundled checkpoint once the training issue has committed it; a random-weight preset before."""
    try:
        params.resolve_weights("demo")
        return "demo"
    except params.ConfigError:
        return "mnv2"


def test_short_demo_answers_every_frame_and_writes_its_outputs(tmp_path):
    out = str(tmp_path / "demo_out")
    weights = _demo_weights()
    env = dict(os.environ)
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)  # the demo must set it for itself and its children
    command = [sys.executable, "-m", "swiftnet_ros.commands.main", "demo", "--frames", "4",
               "--size", "256x128", "--out", out, "--weights", weights,
               "--namespace", "/demo_test_{}".format(os.getpid()), "--domain-id", str(free_domain_id())]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["frames_published"] == summary["frames_in"] == summary["frames_out"] == 4
    assert summary["dropped"] == 0 and summary["node_dropped"] == 0
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"] < 10000
    assert 0.0 <= summary["miou"] <= 1.0 and summary["frames_scored"] == 4
    assert summary["node_exit_code"] == 0
    if weights == "demo":  # trained on synthetic scenes: far above chance (random weights ~0.3%) on new ones
        assert summary["miou"] > 0.4, summary
    for name in ("contact_sheet.png", "latency_histogram.png"):
        with open(os.path.join(out, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "frames published 4, in 4, out 4, dropped 0" in proc.stdout
    assert "mIoU against the synthetic ground truth" in proc.stdout
    assert os.listdir(os.path.join(out, "bags")) == ["synthetic_4f_256x128_seed{}".format(demo.DEMO_SEED)]


def test_synthetic_bag_is_cached_per_arguments(tmp_path):
    out = str(tmp_path)
    path, reused = demo.ensure_bag(out, 2, (32, 48), 5)
    assert not reused and demo.bags.topic_counts(path)[demo.bags.IMAGE_TOPIC] == 2
    mtime = os.path.getmtime(os.path.join(path, "metadata.yaml"))
    assert demo.ensure_bag(out, 2, (32, 48), 5) == (path, True)
    assert os.path.getmtime(os.path.join(path, "metadata.yaml")) == mtime
    other, reused = demo.ensure_bag(out, 3, (32, 48), 5)
    assert other != path and not reused


def _args(**overrides):
    parser = argparse.ArgumentParser()
    demo_command.add_arguments(parser)
    args = parser.parse_args([])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def _run(args):
    """``demo``'s run as ``swiftnet-ros demo`` runs it: an error becomes one line and an exit code."""
    try:
        return demo_command.run(args)
    except Exception as exc:
        return report_error("demo", exc)


def test_missing_demo_checkpoint_is_a_clear_error(tmp_path, monkeypatch, capsys):
    absent = str(tmp_path / "demo" / "swiftnet_demo.pt")
    monkeypatch.setattr(params, "demo_checkpoint_candidates", lambda: [absent])
    assert _run(_args(out=str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("swiftnet-ros demo: error: weights 'demo': the bundled checkpoint swiftnet_demo.pt "
                          "was not found at {}".format(absent))
    assert not os.path.exists(str(tmp_path / "out"))  # nothing pretended


@pytest.mark.parametrize("overrides, message", [
    ({"weights": "/nonexistent/nope.pt"}, "weights file '/nonexistent/nope.pt' does not exist"),
    ({"frames": 0}, "--frames 0"),
    ({"fps": 0.0}, "--fps 0.0"),
    ({"size": "huge"}, "bad size 'huge'"),
    ({"bag": "/nonexistent/bag"}, "--bag /nonexistent/bag: no rosbag2 directory there"),
    ({"domain_id": 500}, "bad ROS domain id 500: expected 0 to 101"),
    ({"startup_timeout": 0.0}, "--startup-timeout 0.0"),
    ({"out": "{tmp}/a_file"}, "--out '{tmp}/a_file' is a file"),
    ({"bag": "{tmp}"}, "--bag {tmp}: no rosbag2 bag at"),
])
def test_bad_demo_arguments(tmp_path, capsys, overrides, message):
    (tmp_path / "a_file").write_text("not a folder")
    args = _args(out=str(tmp_path / "out"), weights="mnv2")
    for key, value in overrides.items():
        setattr(args, key, value.format(tmp=tmp_path) if isinstance(value, str) else value)
    assert _run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("swiftnet-ros demo: error: ") and err.count("\n") == 1
    assert message.format(tmp=tmp_path) in err
