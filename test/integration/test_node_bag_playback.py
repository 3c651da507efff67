"""The launch scenario of test/test_segment_launch.py, run here: bag -> play-bag -> node -> subscriber.

``launch`` / ``launch_testing`` are not installable here, so the node is started the way the
launch file starts it (the ``segmentation_node`` executable with config/segment.yaml, a namespace
and the ``image`` remap) as a separate OS process, and ``swiftnet-ros play-bag`` as another one;
they talk over real Fast DDS. Every frame must come back with its stamp and frame_id.
"""

import os
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest

from swiftnet_ros.tools import bags

rclpy = pytest.importorskip("rclpy")
from swiftnet_ros.data.labels import get_label_set  # noqa: E402
from swiftnet_ros.tools import demo, processes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FRAMES = 6
SIZE = (96, 160)  # (height, width): small, so the CPU answers quickly
PLAY_FPS = 5.0  # at most; each frame also waits for the previous one's answer


def _node_executable():
    """The console script `pip install` made (what `ros2 run` starts on a ROS 2 install)."""
    path = os.path.join(os.path.dirname(sys.executable), "segmentation_node")
    return [path] if os.access(path, os.X_OK) else [shutil.which("segmentation_node")]


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("playback") / "synthetic")
    bags.write_synthetic_bag(path, FRAMES, size=SIZE, seed=3, rate=10.0, encoding="bgr8", row_padding=8,
                             frame_id="front_camera", progress=False)
    return path


def test_every_played_frame_is_answered_with_its_stamp(bag, tmp_path):
    namespace = "/playback_" + uuid.uuid4().hex[:8]
    image_topic = namespace + "_camera/image_raw"
    env = processes.ros_env()  # this test process's own domain (conftest)
    # as launch/segment.launch.py: parameters=[config, overrides], remap image and image/compressed
    node_cmd = _node_executable() + [
        "--ros-args", "--params-file", os.path.join(ROOT, "config", "segment.yaml"),
        "-r", "__ns:=" + namespace, "-r", "image:=" + image_topic, "-r", "image/compressed:=" + image_topic
        + "/compressed", "-p", "weights:=mnv2", "-p", "backend:=torch", "-p", "device:=cpu",
        "-p", "input_size:={}x{}".format(SIZE[1], SIZE[0]), "-p", "input_qos:=reliable",
        "-p", "qos_depth:=50", "-p", "diagnostics_period:=0.2"]
    log_path = str(tmp_path / "node.log")
    node_log = open(log_path, "w")
    node_proc = subprocess.Popen(node_cmd, env=env, stdout=node_log, stderr=subprocess.STDOUT)
    rclpy.init()
    listener = rclpy.create_node("playback_listener_" + uuid.uuid4().hex[:6])
    play_proc = None
    try:
        stamps = bags.header_stamps(bag)
        recorder = demo.OutputRecorder(listener, namespace, keep_images=stamps)
        ready = processes.spin_until(listener, lambda: recorder.node_ready(image_topic), 90, [node_proc])
        assert ready, "node did not start:\n" + open(log_path).read()
        publish_log = str(tmp_path / "published.csv")
        # each frame after the previous one's answer (at most PLAY_FPS): a loaded CPU loses none
        command = demo.play_command(bag, bags.IMAGE_TOPIC, image_topic, PLAY_FPS / 10.0, publish_log,
                                    answer_topic=recorder.topics[demo.LABELS])
        play_proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        processes.spin_until(listener, lambda: recorder.answered(stamps) == FRAMES, 120,
                             [play_proc, node_proc])
        processes.spin_until(listener, lambda: recorder.answered(stamps) == FRAMES, 10, [node_proc])
        processes.spin_until(listener, lambda: False, 0.5)
        play_out, play_err = play_proc.communicate(timeout=30)
        node_code, stop_s = processes.stop_process(node_proc)
    finally:
        if play_proc is not None and play_proc.poll() is None:
            processes.stop_process(play_proc)
        processes.stop_process(node_proc)
        node_log.close()
        listener.destroy_node()
        rclpy.shutdown()
    log = open(log_path).read()
    assert play_proc.returncode == 0, play_err
    assert "{} answered on {}, 0 unanswered".format(FRAMES, recorder.topics[demo.LABELS]) in play_out
    assert node_code == 0 and stop_s < 5.0, log
    assert "Traceback" not in log

    # every frame answered once, on every output, with the input's stamp and frame_id
    assert sorted(recorder.labels) == stamps, "answered {} of {}:\n{}\n{}".format(
        len(recorder.labels), FRAMES, recorder.diagnostics, log)
    assert sorted(recorder.info) == stamps and sorted(recorder.color) == stamps
    assert recorder.duplicates == 0
    assert set(recorder.frame_ids.values()) == {"front_camera"}
    assert set(demo.read_publish_log(publish_log)) == set(stamps)
    assert recorder.diagnostics["frames_received"] == str(FRAMES)
    assert recorder.diagnostics["frames_dropped"] == "0"

    palette = get_label_set("cityscapes").palette
    truths = bags.read_ground_truth(bag)
    for stamp in stamps:
        labels = recorder.labels[stamp]
        assert labels.shape == SIZE == truths[stamp].shape
        assert set(np.unique(labels)) <= set(range(19)) | {255}
        info = recorder.info[stamp]
        assert (info.height, info.width) == SIZE and len(info.class_names) == 19
        np.testing.assert_array_equal(recorder.color[stamp], palette[labels])
        fractions = np.bincount(labels.ravel(), minlength=256)[:19] / labels.size
        np.testing.assert_allclose(info.class_fractions, fractions, atol=1e-6)
        assert info.total_ms >= info.inference_ms > 0
