"""The ROS 2 user's own commands against the launched node, each a separate process over Fast DDS.

One ``ros2 launch swiftnet_ros segment.launch.py weights:=demo/swiftnet_demo.pt namespace:=...
image_topic:=...`` for the module, from this run's install tree; ``swiftnet-ros play-bag`` frames
answered; ``ros2 topic echo --once / hz / list -t``; ``ros2 param list / describe / get / set``; then
Ctrl-C as a terminal gives it: SIGINT to the launch's whole process group, so the node gets SIGINT
from the terminal and again from launch. Also bad launch arguments, and the launch_testing test run
by the ``launch_test`` command.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from ros2_helpers import ROOT, Background, alive, ros2

from swiftnet_ros.model.checkpoints import load_model
from swiftnet_ros.ros.params import parameter_names
from swiftnet_ros.tools import bags, demo, processes
from swiftnet_ros.tools.node_client import OUTPUTS

FRAMES = 4
SIZE = (128, 256)  # (height, width)
FRAME_ID = "ros2_camera"
WEIGHTS = "demo/swiftnet_demo.pt"  # found in the package's share folder by the launch file
STOP_WITHIN_S = 2.0
# No daemon left behind. Without one a listing looks only 0.5 s unless given --spin-time; a verb
# on a named node waits for it with --timeout.
SPIN = ["--no-daemon", "--spin-time", "3"]
WAIT = ["--no-daemon", "--timeout", "20"]


def type_name(msg_class: type) -> str:
    return "{}/msg/{}".format(msg_class.__module__.split(".")[0], msg_class.__name__)


class Launched:
    def __init__(self, launch: Background, env: dict, namespace: str, bag: str, share: str) -> None:
        self.launch = launch
        self.env = env
        self.namespace = namespace
        self.image_topic = namespace + "_camera/image_raw"
        self.node = processes.join_topic(namespace, "segmentation_node")
        self.bag = bag
        self.stamps = bags.header_stamps(bag)
        self.share = share

    def topic(self, name: str) -> str:
        return processes.join_topic(self.namespace, name)

    def play(self, loop: bool = False) -> list:
        command = demo.play_command(self.bag, bags.IMAGE_TOPIC, self.image_topic, 1.0,
                                    answer_topic=self.topic(OUTPUTS["labels"][0]))
        return command + (["--loop"] if loop else [])


@pytest.fixture(scope="module")
def launched(ros2_tools, tmp_path_factory):
    env = ros2_tools.env()
    namespace = processes.unique_namespace("ros2_launch")
    work = tmp_path_factory.mktemp("ros2_launch")
    bag = str(work / "synthetic")
    bags.write_synthetic_bag(bag, FRAMES, size=SIZE, seed=demo.DEMO_SEED, frame_id=FRAME_ID, progress=False)
    launched = Launched(None, env, namespace, bag, ros2_tools.share)
    command = ["ros2", "launch", "swiftnet_ros", "segment.launch.py", "weights:=" + WEIGHTS,
               "namespace:=" + namespace, "image_topic:=" + launched.image_topic]
    launched.launch = Background(command, env, cwd=str(work))
    try:
        assert launched.launch.wait_for("ready:", 120), launched.launch.output()
        yield launched
    finally:
        launched.launch.close()


@pytest.fixture(scope="module")
def playing(launched):
    """play-bag playing the bag again and again, each frame after the previous one's answer."""
    player = Background(launched.play(loop=True), launched.env)
    try:
        yield player
    finally:
        player.close()


@pytest.fixture(scope="module")
def checkpoint():
    _, meta = load_model(os.path.join(ROOT, WEIGHTS))
    return meta


def test_launch_starts_the_node_of_the_install_tree(launched):
    output = launched.launch.output()
    assert "loading {} ".format(os.path.join(launched.share, WEIGHTS)) in output
    assert "-> {};".format(launched.topic("segmentation")) in output
    assert "subscribed to {} ".format(launched.image_topic) in output


def test_play_bag_frames_are_answered(launched):
    done = subprocess.run(launched.play(), env=launched.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    assert "published {0} messages; {0} answered on {1}, 0 unanswered".format(
        FRAMES, launched.topic("segmentation/labels")) in done.stdout


def test_topic_echo_once_prints_the_summary_of_a_played_frame(launched, playing, checkpoint):
    done = ros2(["topic", "echo", launched.topic("segmentation"), "--once"] + SPIN, launched.env, timeout=90)
    assert done.returncode == 0, done.stdout
    info = yaml.safe_load(done.stdout.split("---")[0])
    assert info["model"] == checkpoint["config"].name
    assert info["class_names"] == list(checkpoint["class_names"])
    stamp = info["header"]["stamp"]
    assert stamp["sec"] * 10 ** 9 + stamp["nanosec"] in launched.stamps
    assert info["header"]["frame_id"] == FRAME_ID
    assert (info["height"], info["width"]) == SIZE


def test_topic_hz_reports_a_rate(launched, playing):
    hz = Background(["ros2", "topic", "hz", launched.topic("segmentation"), "--window", "3"], launched.env)
    try:
        assert hz.wait_for("average rate:", 60), hz.output()
        rate = float(re.search(r"average rate: ([0-9.]+)", hz.output()).group(1))
        assert rate > 0
    finally:
        hz.close()


def test_topic_list_t_lists_every_output_with_its_type(launched):
    done = ros2(["topic", "list", "-t"] + SPIN, launched.env)
    assert done.returncode == 0, done.stdout
    listed = dict(line.rsplit(" ", 1) for line in done.stdout.strip().splitlines())
    expected = {launched.topic(name): "[{}]".format(type_name(cls)) for name, cls in OUTPUTS.values()}
    expected[launched.image_topic] = "[sensor_msgs/msg/Image]"
    expected["/diagnostics"] = "[diagnostic_msgs/msg/DiagnosticArray]"
    assert {topic: listed.get(topic) for topic in expected} == expected


def test_param_list_describe_get_and_set(launched):
    node = launched.node
    done = ros2(["param", "list", node] + SPIN, launched.env)
    assert done.returncode == 0, done.stdout
    assert set(parameter_names()) <= {line.strip() for line in done.stdout.splitlines()}

    done = ros2(["param", "describe", node, "overlay_alpha"] + WAIT, launched.env)
    assert done.returncode == 0, done.stdout
    assert "Parameter name: overlay_alpha" in done.stdout and "Type: double" in done.stdout

    done = ros2(["param", "get", node, "weights"] + WAIT, launched.env)
    assert done.stdout.strip() == "String value is: {}".format(os.path.join(launched.share, WEIGHTS))

    done = ros2(["param", "set", node, "overlay_alpha", "0.25"] + WAIT, launched.env)
    assert done.stdout.strip() == "Set parameter successful", done.stdout
    done = ros2(["param", "get", node, "overlay_alpha"] + WAIT, launched.env)
    assert done.stdout.strip() == "Double value is: 0.25"

    done = ros2(["param", "set", node, "input_size", "64x32"] + WAIT, launched.env)
    refused = "Setting parameter failed: parameter input_size is read at start-up only"
    assert done.stdout.strip().startswith(refused), done.stdout
    done = ros2(["param", "get", node, "input_size"] + WAIT, launched.env)
    assert done.stdout.strip() == "String value is:"


def test_ctrl_c_stops_launch_and_node_cleanly_within_2_s(launched, playing):
    playing.close()  # the player first, as a user would stop the bag
    launch = launched.launch
    node_pid = int(re.search(r"process started with pid \[(\d+)\]", launch.output()).group(1))
    before = len(launch.output())
    start = time.monotonic()
    launch.interrupt()  # the terminal's Ctrl-C: SIGINT to the group (launch and node); launch sends another
    while launch.proc.poll() is None and time.monotonic() - start < 10:
        # and more, every 2 ms while the node shuts down (an impatient user's repeated Ctrl-C): one of
        # them lands in each step of the shutdown; without the node's guard 5 of 5 runs failed here
        try:
            os.kill(node_pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        time.sleep(0.002)
    code = launch.proc.wait(10)
    elapsed = time.monotonic() - start
    output = launch.output()[before:]
    assert code == 0, output
    assert "process has finished cleanly [pid {}]".format(node_pid) in output, output
    assert "Traceback" not in output and "process has died" not in output, output
    assert elapsed < STOP_WITHIN_S, output
    assert not alive(node_pid)
    assert not launch.group_alive()


@pytest.mark.parametrize("argument, error", [
    ("config:=/no/such/segment.yaml",
     "launch argument config:=/no/such/segment.yaml: no such file (expected a YAML parameter file)"),
    ("image_topic:=/", "launch argument image_topic is empty: expected a topic such as /camera/image_raw"),
    ("use_sim_time:=maybe", "launch argument use_sim_time:='maybe': expected true or false"),
])
def test_a_bad_launch_argument_is_one_clear_error(ros2_tools, argument, error):
    done = ros2(["launch", "swiftnet_ros", "segment.launch.py", argument], ros2_tools.env())
    assert done.returncode != 0
    errors = [line for line in done.stdout.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and errors[0].endswith(error), done.stdout
    assert "Traceback" not in done.stdout and "process started" not in done.stdout


def test_launch_test_command_runs_the_launch_testing_test(ros2_tools):
    test_file = os.path.join(ROOT, "test", "integration", "test_segment_launch.py")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "launch_test"), test_file],
                          env=ros2_tools.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-5000:]
    assert re.findall(r"^Ran (\d+) tests? in", done.stdout, re.M) == ["1", "1"], done.stdout[-5000:]
    assert "OK" in done.stdout
