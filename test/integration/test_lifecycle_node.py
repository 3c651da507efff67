"""segmentation_lifecycle_node in its own process, driven through its real lifecycle services
(``<node>/change_state``, ``<node>/get_state``) and with ``ros2 lifecycle`` from the tools: unconfigured at
start, a failed configure stays unconfigured with its reason, configure -> inactive (no topics),
activate answers, deactivate stops answering, cleanup, shutdown from any state ends the process."""

import os
import shutil
import subprocess
import sys

import pytest
import rclpy
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_helpers import FAST_MODEL, REPO, image_array, ros_init, sample_image, set_parameters, stamp
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from vision_msgs.msg import LabelInfo

from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields
from swiftnet_ros.tools.node_client import RosClient
from swiftnet_ros.tools.processes import LIFECYCLE_NODE_MODULE, NodeProcess, unique_namespace

ROS2 = shutil.which("ros2") or os.path.join(os.path.dirname(sys.executable), "ros2")
LATCHED = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=1, reliability=QoSReliabilityPolicy.RELIABLE,
                     durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture(scope="module")
def ros():
    ros_init()
    yield
    rclpy.shutdown()


class Managed:
    """A lifecycle node process and a client that calls its lifecycle services."""

    def __init__(self, params):
        self.namespace = unique_namespace("managed")
        self.process = NodeProcess(self.namespace, params, cwd=REPO, module=LIFECYCLE_NODE_MODULE)
        self.client = RosClient(self.namespace)
        name = self.namespace + "/segmentation_node"
        self.change = self.client.node.create_client(ChangeState, name + "/change_state")
        self.get = self.client.node.create_client(GetState, name + "/get_state")
        assert self.change.wait_for_service(timeout_sec=60), self.process.output()
        assert self.get.wait_for_service(timeout_sec=10)

    def call(self, service, request, timeout=120.0):
        future = service.call_async(request)
        assert self.client.spin_until(future.done, timeout), self.process.output()
        return future.result()

    def state(self) -> int:
        return self.call(self.get, GetState.Request()).current_state.id

    def transition(self, transition_id: int) -> bool:
        return self.call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def publishers(self, topic: str) -> int:
        return self.client.node.count_publishers(self.namespace + "/" + topic)

    def close(self):
        self.client.close()
        self.process.close()


def answer(managed, index, kinds=("labels", "info"), timeout=30.0):
    msg = managed.client.image_msg(rgb_to_image_fields(sample_image(index)), index)
    return managed.client.send_and_wait(msg, index, kinds=kinds, timeout=timeout)


def test_lifecycle_transitions_through_the_services(ros):
    managed = Managed(dict(FAST_MODEL, cpu_threads=1, weights="/no/such/model.pt"))
    try:
        assert managed.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert managed.publishers("segmentation/labels") == 0
        # a failed configure: failure, its reason in the log, still unconfigured (and still up)
        assert not managed.transition(Transition.TRANSITION_CONFIGURE)
        assert managed.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert "configure failed: weights file '/no/such/model.pt' does not exist; still unconfigured" \
            in managed.process.output()
        # unconfigured: start-up parameters may change (checked), then configure loads the model
        refused = set_parameters(managed.client, backend="cuda")[0]
        assert not refused.successful and "backend = 'cuda'" in refused.reason
        assert set_parameters(managed.client, weights="mnv2")[0].successful
        assert managed.transition(Transition.TRANSITION_CONFIGURE)
        assert managed.state() == State.PRIMARY_STATE_INACTIVE
        assert managed.publishers("segmentation/labels") == 0  # inactive: no topics yet
        refused = set_parameters(managed.client, weights="rn18")[0]
        assert not refused.successful and "read at start-up only" in refused.reason
        # activate: subscribes, publishes, label_info latched
        assert managed.transition(Transition.TRANSITION_ACTIVATE)
        assert managed.state() == State.PRIMARY_STATE_ACTIVE
        managed.client.wait_connected()
        labels = image_array(answer(managed, 1)["labels"])
        assert labels.shape == (64, 128)
        got = []
        managed.client.node.create_subscription(LabelInfo, "segmentation/label_info", got.append, LATCHED)
        assert managed.client.spin_until(lambda: got, 20) and got[0].class_map[-1].class_id == 255
        # deactivate: the topics go away and frames are not answered
        assert managed.transition(Transition.TRANSITION_DEACTIVATE)
        assert managed.state() == State.PRIMARY_STATE_INACTIVE
        assert managed.client.spin_until(lambda: managed.publishers("segmentation/labels") == 0
                                         and managed.client.image_pub.get_subscription_count() == 0, 10)
        managed.client.publish(managed.client.image_msg(rgb_to_image_fields(sample_image(2)), 2))
        managed.client.spin_until(lambda: False, 0.5)
        assert stamp(2) not in managed.client.received["labels"]
        # activate again: answers again
        assert managed.transition(Transition.TRANSITION_ACTIVATE)
        managed.client.wait_connected()
        assert image_array(answer(managed, 3)["labels"]).shape == (64, 128)
        # deactivate, cleanup (model freed), configure again, then shutdown from inactive ends the process
        assert managed.transition(Transition.TRANSITION_DEACTIVATE)
        assert managed.transition(Transition.TRANSITION_CLEANUP)
        assert managed.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert "unconfigured: model freed" in managed.process.output()
        assert managed.transition(Transition.TRANSITION_CONFIGURE)
        assert managed.transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert managed.process.wait_exit(20) == 0
        log = managed.process.output()
        assert "finalized (shutdown from inactive)" in log and "Traceback" not in log
    finally:
        managed.close()


def lifecycle_cli(managed, *args):
    command = [ROS2, "lifecycle"] + list(args)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                          text=True)
    return done.returncode, done.stdout


@pytest.mark.skipif(not os.path.exists(ROS2), reason="no ros2 command (../shared/ros2-tools not installed)")
def test_ros2_lifecycle_set_drives_it_and_shutdown_works_from_active(ros):
    managed = Managed(dict(FAST_MODEL, cpu_threads=1))
    name = managed.namespace + "/segmentation_node"
    try:
        code, out = lifecycle_cli(managed, "get", name, "--no-daemon", "--spin-time", "5")
        assert code == 0 and "unconfigured" in out, out
        for transition in ("configure", "activate"):
            code, out = lifecycle_cli(managed, "set", name, transition, "--no-daemon", "--spin-time", "5")
            assert code == 0 and "Transitioning successful" in out, out
        managed.client.wait_connected()
        assert image_array(answer(managed, 5)["labels"]).shape == (64, 128)
        code, out = lifecycle_cli(managed, "set", name, "shutdown", "--no-daemon", "--spin-time", "5")
        assert code == 0 and "Transitioning successful" in out, out
        assert managed.process.wait_exit(20) == 0
        assert "finalized (shutdown from active)" in managed.process.output()
    finally:
        managed.close()


def test_shutdown_from_unconfigured_ends_the_process(ros):
    managed = Managed(dict(FAST_MODEL, cpu_threads=1))
    try:
        assert managed.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert managed.process.wait_exit(20) == 0
        assert "finalized (shutdown from unconfigured)" in managed.process.output()
    finally:
        managed.close()


def test_bad_parameters_on_the_command_line_stop_the_managed_node_with_one_line(ros):
    with NodeProcess(unique_namespace("managed_bad"), dict(FAST_MODEL, overlay_alpha=3.0), cwd=REPO,
                     module=LIFECYCLE_NODE_MODULE) as node:
        assert node.wait_exit(60) == 2
        log = node.output()
        assert "overlay_alpha = 3.0 is out of range" in log and "Traceback" not in log


def test_an_rclpy_without_the_lifecycle_api_gets_one_line_and_exit_1():
    """Foxy / Galactic's rclpy has no rclpy.lifecycle (as here once the module cannot be imported)."""
    probe = ("import sys; sys.modules['rclpy.lifecycle'] = None; "
             "from swiftnet_ros.commands.segmentation_lifecycle_node import main; main([])")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)
    assert done.returncode == 1
    assert "this rclpy has no lifecycle API" in done.stdout and "run segmentation_node instead" in done.stdout
    assert "Traceback" not in done.stdout
