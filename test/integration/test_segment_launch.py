"""launch_testing: segment.launch.py starts the node, play-bag plays a synthetic bag, every frame answers.

Runs on a ROS 2 install with launch_testing (``colcon test`` or ``launch_test test/test_segment_launch.py``
after sourcing the workspace). launch / launch_testing are not installable from PyPI, so here this
file is skipped; test/test_bag_playback.py runs the same scenario with the node as a separate OS
process, real rclpy and Fast DDS.
"""

import os
import subprocess
import tempfile
import unittest
import uuid

import pytest

pytest.importorskip(
    "launch_testing", reason="launch_testing is not installed (it is not on PyPI); test/test_bag_playback.py "
    "runs this scenario with separate processes")
pytest.importorskip("launch_ros", reason="launch_ros is not installed (it is not on PyPI)")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from swiftnet_ros.data.labels import get_label_set  # noqa: E402
from swiftnet_ros.ros.params import NODE_NAME  # noqa: E402
from swiftnet_ros.tools import bags, demo, processes  # noqa: E402

NAMESPACE = "/launch_test_" + uuid.uuid4().hex[:8]
IMAGE_TOPIC = NAMESPACE + "_camera/image_raw"
FRAMES = 6
SIZE = (96, 160)  # (height, width)
PLAY_FPS = 5.0  # at most; each frame also waits for the previous one's answer


@pytest.mark.launch_test
def generate_test_description():
    env = processes.use_ros_env()  # LARGE_DATA for the launched node too
    work = tempfile.mkdtemp(prefix="swiftnet_launch_test_")
    bag = os.path.join(work, "synthetic")
    bags.write_synthetic_bag(bag, FRAMES, size=SIZE, seed=3, encoding="bgr8", frame_id="front_camera",
                             progress=False)
    share = get_package_share_directory("swiftnet_ros")
    with open(os.path.join(share, "config", "segment.yaml")) as f:
        config = yaml.safe_load(f)
    section = [k for k in config if str(k).strip("/").split("/")[-1] in (NODE_NAME, "**")][0]
    config[section]["ros__parameters"].update(
        device="cpu", input_qos="reliable", qos_depth=50, input_size="{}x{}".format(SIZE[1], SIZE[0]),
        diagnostics_period=0.2)
    config_path = os.path.join(work, "segment.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config, f)
    segment = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "segment.launch.py")),
        launch_arguments={"config": config_path, "weights": "mnv2", "backend": "torch",
                          "image_topic": IMAGE_TOPIC, "namespace": NAMESPACE}.items())
    return LaunchDescription([segment, launch_testing.actions.ReadyToTest()]), {"bag": bag, "env": env}


class TestSegmentLaunch(unittest.TestCase):
    def test_every_played_frame_is_answered_with_its_stamp(self, bag, env):
        stamps = bags.header_stamps(bag)
        rclpy.init()
        node = rclpy.create_node("launch_test_listener")
        play = None
        try:
            recorder = demo.OutputRecorder(node, NAMESPACE, keep_images=stamps)
            self.assertTrue(processes.spin_until(node, lambda: recorder.node_ready(IMAGE_TOPIC), 120),
                            recorder.discovery_state(IMAGE_TOPIC))
            command = demo.play_command(bag, bags.IMAGE_TOPIC, IMAGE_TOPIC, PLAY_FPS / 10.0,
                                        answer_topic=recorder.topics[demo.LABELS])
            play = subprocess.Popen(command, env=env)
            processes.spin_until(node, lambda: recorder.answered(stamps) == FRAMES, 120, [play])
            processes.spin_until(node, lambda: recorder.answered(stamps) == FRAMES, 10)
            self.assertEqual(play.wait(30), 0)
        finally:
            if play is not None and play.poll() is None:
                processes.stop_process(play)
            node.destroy_node()
            rclpy.shutdown()

        self.assertEqual(sorted(recorder.labels), stamps)
        self.assertEqual(sorted(recorder.info), stamps)
        self.assertEqual(sorted(recorder.color), stamps)
        self.assertEqual(set(recorder.frame_ids.values()), {"front_camera"})
        palette = get_label_set("cityscapes").palette
        for stamp in stamps:
            labels = recorder.labels[stamp]
            self.assertEqual(labels.shape, SIZE)
            self.assertTrue(set(np.unique(labels)) <= set(range(19)) | {255})
            np.testing.assert_array_equal(recorder.color[stamp], palette[labels])
            fractions = np.bincount(labels.ravel(), minlength=256)[:19] / labels.size
            np.testing.assert_allclose(recorder.info[stamp].class_fractions, fractions, atol=1e-6)


@launch_testing.post_shutdown_test()
class TestSegmentLaunchShutdown(unittest.TestCase):
    def test_node_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
