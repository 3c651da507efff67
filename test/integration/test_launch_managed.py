"""``ros2 launch swiftnet_ros segment.launch.py managed:=true`` from an install tree: the launch file
starts the lifecycle node (unconfigured until ``ros2 lifecycle set``), and remaps ``camera_info`` to the
image topic's sibling, so the camera's calibration comes back as segmentation/camera_info."""

import rclpy
from builtin_interfaces.msg import Time
from node_helpers import image_array, ros_init, sample_image, send_with_camera_info, stamp
from ros2_helpers import Background, ros2
from sensor_msgs.msg import CameraInfo, Image

from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields
from swiftnet_ros.tools.node_client import RosClient, qos
from swiftnet_ros.tools.processes import unique_namespace


def test_managed_launch_starts_the_lifecycle_node_with_camera_info_beside_the_image_topic(ros2_tools):
    env = ros2_tools.env()  # the install tree of this test run
    namespace = unique_namespace("launch_managed")
    camera = namespace + "_camera"
    arguments = ["managed:=true", "weights:=mnv2", "backend:=torch", "namespace:=" + namespace,
                 "image_topic:=" + camera + "/image_raw"]
    launch = Background(["ros2", "launch", "swiftnet_ros", "segment.launch.py"] + arguments, env)
    ros_init()
    client = RosClient(namespace)
    try:
        assert launch.wait_for("unconfigured: waiting for configure", 120), launch.output()
        name = namespace + "/segmentation_node"
        for transition in ("configure", "activate"):
            done = ros2(["lifecycle", "set", name, transition, "--no-daemon", "--spin-time", "5"], env,
                        timeout=120)
            assert done.returncode == 0 and "Transitioning successful" in done.stdout, done.stdout
        client.received["camera_info"] = {}
        client.node.create_subscription(CameraInfo, "segmentation/camera_info",
                                        client._collector("camera_info"), qos(True, 10))
        image_pub = client.node.create_publisher(Image, camera + "/image_raw", qos(True, 10))
        info_pub = client.node.create_publisher(CameraInfo, camera + "/camera_info", qos(True, 10))
        output_topic = namespace + "/segmentation/camera_info"
        assert client.spin_until(lambda: image_pub.get_subscription_count() > 0
                                 and info_pub.get_subscription_count() > 0
                                 and client.node.count_publishers(output_topic) > 0, 30), launch.output()
        info = CameraInfo(width=128, height=64, k=[100.0, 0, 64, 0, 100.0, 32, 0, 0, 1])
        info.header.stamp = Time(sec=stamp(1)[0], nanosec=stamp(1)[1])
        client.image_pub = image_pub  # images go to the camera's topic
        msg = client.image_msg(rgb_to_image_fields(sample_image(1)), 1)
        answer = send_with_camera_info(client, info_pub, [info], msg, 1, ("labels", "camera_info"),
                                       timeout=60)
        assert image_array(answer["labels"]).shape == (64, 128)
        assert answer["camera_info"].header == answer["labels"].header
        assert list(answer["camera_info"].k)[:3] == [100.0, 0.0, 64.0]  # labels at the camera's size
    finally:
        client.close()
        rclpy.shutdown()
        launch.close()
