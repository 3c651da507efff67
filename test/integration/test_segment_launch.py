"""launch_testing: segment.launch.py with the demo checkpoint answers every frame of a synthetic mcap bag.

Runs under pytest (launch_testing's plugin collects it) and with the ``launch_test`` command:
``launch_test test/integration/test_segment_launch.py`` after ``source install/setup.sh`` (made by
``make install-tree``) or in a sourced ROS 2 workspace; test_ros2_launch.py runs it that way too. In
the pip set-up under pytest, the package's share folder has no launch/, so the launch file and the
node come from this test run's install tree (ros2_helpers.shared_install_tree), whose environment is
set for the included launch only. ``swiftnet-ros play-bag`` plays the bag as a separate process, each
frame after the previous one's answer, so no frame is dropped however loaded the machine is.
"""

import os
import subprocess
import tempfile
import unittest
import uuid

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed: make setup installs it from "
                    "../shared/ros2-tools/wheels, or source a ROS 2 install")
pytest.importorskip("launch_ros", reason="launch_ros is not installed: make setup installs it from "
                    "../shared/ros2-tools/wheels, or source a ROS 2 install")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory  # noqa: E402
from launch.actions import GroupAction, IncludeLaunchDescription, SetEnvironmentVariable  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from swiftnet_ros.data.labels import get_label_set  # noqa: E402
from swiftnet_ros.ros.params import NODE_NAME  # noqa: E402
from swiftnet_ros.tools import bags, demo, processes  # noqa: E402

NAMESPACE = "/launch_test_" + uuid.uuid4().hex[:8]
IMAGE_TOPIC = NAMESPACE + "_camera/image_raw"
FRAMES = 10
SIZE = (256, 512)  # (height, width): the demo's size, where its checkpoint is at home
FRAME_ID = "front_camera"
MIN_MIOU = 0.8
PLAY_FPS = 10.0  # at most; each frame also waits for the previous one's answer


def launch_file_and_environment():
    """segment.launch.py and the variables that find the package: none where the package is installed
    as a ROS 2 package already (a sourced workspace or install tree), else this test run's tree."""
    try:
        path = os.path.join(get_package_share_directory("swiftnet_ros"), "launch", "segment.launch.py")
        if os.path.isfile(path):
            return path, {}
    except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH at all
        pass
    from ros2_helpers import shared_install_tree  # pytest has test/integration on sys.path

    tree = shared_install_tree()
    return tree.launch_file, tree.exports


@pytest.mark.launch_test
def generate_test_description():
    env = processes.use_ros_env()  # LARGE_DATA for the launched node too
    launch_file, exports = launch_file_and_environment()
    work = tempfile.mkdtemp(prefix="swiftnet_launch_test_")
    bag = os.path.join(work, "synthetic")
    bags.write_synthetic_bag(bag, FRAMES, size=SIZE, seed=demo.DEMO_SEED, encoding="bgr8", frame_id=FRAME_ID,
                             progress=False)
    share = os.path.dirname(os.path.dirname(launch_file))
    with open(os.path.join(share, "config", "segment.yaml")) as f:
        config = yaml.safe_load(f)
    section = [k for k in config if str(k).strip("/").split("/")[-1] in (NODE_NAME, "**")][0]
    config[section]["ros__parameters"].update(
        device="cpu", input_qos="reliable", qos_depth=50, input_size="{}x{}".format(SIZE[1], SIZE[0]),
        cpu_threads=1, diagnostics_period=0.2)
    config_path = os.path.join(work, "segment.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config, f)
    segment = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file),
        launch_arguments={"config": config_path, "weights": "demo/swiftnet_demo.pt",
                          "image_topic": IMAGE_TOPIC, "namespace": NAMESPACE}.items())
    # scoped: the install tree's variables hold for this launch only, not for the tests after it
    scoped = GroupAction([SetEnvironmentVariable(name, value) for name, value in exports.items()] + [segment],
                         scoped=True)
    return LaunchDescription([scoped, launch_testing.actions.ReadyToTest()]), {"bag": bag, "env": env}


class TestSegmentLaunch(unittest.TestCase):
    def test_every_played_frame_is_answered_with_its_stamp(self, bag, env):
        stamps = bags.header_stamps(bag)
        self.assertEqual(len(stamps), FRAMES)
        rclpy.init()
        node = rclpy.create_node("launch_test_listener")
        play = None
        try:
            recorder = demo.OutputRecorder(node, NAMESPACE, keep_images=stamps)
            color_frame_ids = {}  # the recorder keeps the frame_id of the labels only

            def on_color(msg: Image) -> None:
                color_frame_ids[bags.stamp_to_ns(msg.header.stamp)] = msg.header.frame_id

            node.create_subscription(Image, recorder.topics[demo.COLOR], on_color,
                                     QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE))

            def complete() -> bool:  # the colour image comes after labels and info: wait for all three
                outputs = (recorder.labels, recorder.info, recorder.color, color_frame_ids)
                return all(stamp in kept for stamp in stamps for kept in outputs)

            self.assertTrue(processes.spin_until(node, lambda: recorder.node_ready(IMAGE_TOPIC), 120),
                            recorder.discovery_state(IMAGE_TOPIC))
            command = demo.play_command(bag, bags.IMAGE_TOPIC, IMAGE_TOPIC, PLAY_FPS / demo.RECORDED_RATE,
                                        answer_topic=recorder.topics[demo.LABELS])
            play = subprocess.Popen(command, env=env)
            processes.spin_until(node, complete, 180, [play])
            self.assertEqual(play.wait(30), 0)
            processes.spin_until(node, complete, 10)  # what was sent before play-bag ended
        finally:
            if play is not None and play.poll() is None:
                processes.stop_process(play)
            node.destroy_node()
            rclpy.shutdown()

        for kind, kept in (("labels", recorder.labels), ("info", recorder.info), ("color", recorder.color)):
            self.assertEqual(sorted(kept), stamps, kind)
        self.assertEqual(set(recorder.frame_ids.values()), {FRAME_ID})
        self.assertEqual(color_frame_ids, {stamp: FRAME_ID for stamp in stamps})
        self.assertEqual({msg.header.frame_id for msg in recorder.info.values()}, {FRAME_ID})
        palette = get_label_set("cityscapes").palette
        for stamp in stamps:
            labels = recorder.labels[stamp]
            self.assertEqual(labels.shape, SIZE)
            np.testing.assert_array_equal(recorder.color[stamp], palette[labels])
            fractions = np.bincount(labels.ravel(), minlength=256)[:19] / labels.size
            np.testing.assert_allclose(recorder.info[stamp].class_fractions, fractions, atol=1e-6)
        truth = bags.read_ground_truth(bag)
        miou, _ = demo.mean_iou([recorder.labels[s] for s in stamps], [truth[s] for s in stamps],
                                recorder.info[stamps[0]].class_names)
        self.assertGreaterEqual(miou, MIN_MIOU)


@launch_testing.post_shutdown_test()
class TestSegmentLaunchShutdown(unittest.TestCase):
    def test_node_exits_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
