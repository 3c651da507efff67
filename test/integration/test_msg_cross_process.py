"""The generated SegmentationInfo message travels between two OS processes over real DDS."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

from swiftnet_ros.tools.processes import wait_for_match

PUBLISHER = textwrap.dedent(
    """
    import sys, time
    import rclpy
    from swiftnet_ros.msg import SegmentationInfo
    rclpy.init()  # domain from ROS_DOMAIN_ID
    node = rclpy.create_node("info_publisher")
    pub = node.create_publisher(SegmentationInfo, sys.argv[1], 10)
    msg = SegmentationInfo(model="rn18", backend="torch", precision="fp32", height=4, width=6)
    msg.header.frame_id = "camera"
    msg.class_names = ["road", "car"]
    msg.class_fractions = [0.75, 0.25]
    msg.dropped_frames = 3
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if pub.get_subscription_count() > 0:
                pub.publish(msg)
            rclpy.spin_once(node, timeout_sec=0.05)
    except KeyboardInterrupt:
        pass
    node.destroy_node()
    rclpy.try_shutdown()
    """
)


def test_segmentation_info_between_processes():
    import rclpy
    from swiftnet_ros.msg import SegmentationInfo

    topic = "info_" + uuid.uuid4().hex[:8]
    # the domain, localhost discovery and LARGE_DATA of this test process (test/conftest.py)
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, topic], env=dict(os.environ))
    rclpy.init()
    received = []
    try:
        node = rclpy.create_node("info_listener")
        subscription = node.create_subscription(SegmentationInfo, topic, received.append, 10)
        assert wait_for_match(node, subscription, timeout=20), "the publisher process never matched"
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        node.destroy_node()
    finally:
        rclpy.shutdown()
        proc.send_signal(signal.SIGINT)  # a clean exit leaves no Fast DDS shared-memory files behind
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert received, "no SegmentationInfo arrived from the other process"
    msg = received[0]
    assert (msg.model, msg.backend, msg.height, msg.width) == ("rn18", "torch", 4, 6)
    assert msg.header.frame_id == "camera"
    assert list(msg.class_names) == ["road", "car"]
    assert list(msg.class_fractions) == [0.75, 0.25]
    assert msg.dropped_frames == 3
