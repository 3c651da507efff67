"""Over real DDS: a matched publisher whose frames do not arrive (as large frames under best-effort QoS
never do) turns the node's /diagnostics to WARN with the cause and the setting; a frame clears it."""

import pytest
import rclpy
from node_helpers import FAST_MODEL, ros_init, running_node, sample_image, unique_namespace

from swiftnet_ros.ros.plumbing import INPUT_QUIET_S
from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

pytestmark = pytest.mark.processes


@pytest.fixture
def ros():
    ros_init()
    yield
    rclpy.shutdown()


def test_matched_publisher_without_frames_is_a_diagnostics_warning(ros):
    with running_node(unique_namespace("quiet"), dict(FAST_MODEL, cpu_threads=1)) as client:
        def warned():
            return any("no frame for" in s["message"] for s in client.diagnostics)

        # the client's best-effort image publisher is matched and sends nothing
        assert client.spin_until(warned, INPUT_QUIET_S + 10.0), client.diagnostics[-1:]
        status = [s for s in client.diagnostics if "no frame for" in s["message"]][-1]
        assert status["level"] in (1, b"\x01")  # WARN (rclpy gives the byte field as bytes)
        assert int(status["input_publishers"]) >= 1 and float(status["input_quiet_s"]) >= INPUT_QUIET_S
        assert "matched on {}/image".format(client.namespace) in status["message"]
        assert "set input_qos: reliable" in status["message"]  # the default input QoS is sensor_data
        client.send_and_wait(client.image_msg(rgb_to_image_fields(sample_image(1)), 1), 1)
        after = client.latest_diagnostics()
        assert "no frame for" not in after["message"] and after["input_quiet_s"] == "", after
