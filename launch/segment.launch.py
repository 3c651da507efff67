"""Start the SwiftNet segmentation node with its YAML configuration.

    ros2 launch swiftnet_ros segment.launch.py image_topic:=/camera/image_raw
    ros2 launch swiftnet_ros segment.launch.py weights:=/path/model.engine precision:=fp16 namespace:=front
    ros2 launch swiftnet_ros segment.launch.py managed:=true   # then: ros2 lifecycle set ... configure

``image_topic`` remaps the node's relative ``image`` input and ``image/compressed`` (as
image_transport names it: ``<image_topic>/compressed``); ``input_transport`` in the config picks
which one the node subscribes. ``camera_info`` is remapped to the image topic's sibling
(``/camera/image_raw`` -> ``/camera/camera_info``). ``managed:=true`` starts the lifecycle node
(``segmentation_lifecycle_node``: unconfigured until a lifecycle manager configures it).
``weights``, ``backend`` and ``precision`` override the config only when given. A relative
``weights`` path is looked up in the package's share directory first, so
``weights:=demo/swiftnet_demo.pt`` finds the bundled demo checkpoint.
"""

import os
from typing import Any, Dict, List

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "swiftnet_ros"
EXECUTABLE = "segmentation_node"
LIFECYCLE_EXECUTABLE = "segmentation_lifecycle_node"  # managed:=true
NODE_NAME = "segmentation_node"  # the section name in config/segment.yaml
# Launch arguments that override the config file only when not empty.
OVERRIDES = ("weights", "backend", "precision")
# Launch arguments that become node parameters (node_overrides).
NODE_ARGUMENTS = ("weights", "backend", "precision", "use_sim_time")


def _parse_bool(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ValueError("launch argument {}:={!r}: expected true or false".format(name, text))
    return value in ("true", "1")


def node_overrides(values: Dict[str, str], share: str) -> Dict[str, Any]:
    """Parameters that launch arguments set over the config file (plain Python, tested without launch).

    Empty OVERRIDES keep the config's value; a relative weights file found in the package's share
    directory becomes its absolute path; use_sim_time becomes a bool.
    """
    overrides: Dict[str, Any] = {}
    for name in OVERRIDES:
        value = values.get(name, "").strip()
        if value:
            overrides[name] = value
    weights = overrides.get("weights")
    if weights and not os.path.isabs(weights) and os.path.isfile(os.path.join(share, weights)):
        overrides["weights"] = os.path.join(share, weights)
    overrides["use_sim_time"] = _parse_bool("use_sim_time", values.get("use_sim_time", "false"))
    return overrides


def camera_info_topic(image_topic: str) -> str:
    """The camera_info beside an image topic, as drivers name it: /camera/image_raw -> /camera/camera_info."""
    return image_topic.rpartition("/")[0] + "/camera_info" if "/" in image_topic else "camera_info"


def _segmentation_node(context: LaunchContext) -> List[Node]:
    values = {name: LaunchConfiguration(name).perform(context) for name in NODE_ARGUMENTS}
    overrides = node_overrides(values, get_package_share_directory(PACKAGE))
    config = LaunchConfiguration("config").perform(context)
    if not os.path.isfile(config):
        raise FileNotFoundError("launch argument config:={}: no such file (expected a YAML parameter file)"
                                .format(config))
    image_topic = LaunchConfiguration("image_topic").perform(context).rstrip("/")
    if not image_topic:
        raise ValueError("launch argument image_topic is empty: expected a topic such as /camera/image_raw")
    managed = _parse_bool("managed", LaunchConfiguration("managed").perform(context))
    return [
        Node(
            package=PACKAGE,
            executable=LIFECYCLE_EXECUTABLE if managed else EXECUTABLE,
            name=NODE_NAME,
            namespace=LaunchConfiguration("namespace"),
            parameters=[config, overrides],
            remappings=[("image", image_topic), ("image/compressed", image_topic + "/compressed"),
                        ("camera_info", camera_info_topic(image_topic))],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", "segment.yaml"),
                              description="YAML parameter file of the node"),
        DeclareLaunchArgument("weights", default_value="",
                              description="checkpoint (.pt), .onnx, .engine or preset; empty: from config"),
        DeclareLaunchArgument("backend", default_value="",
                              description="auto | torch | onnxruntime | tensorrt; empty: from config"),
        DeclareLaunchArgument("precision", default_value="",
                              description="fp32 | fp16 | bf16 | int8; empty: from config"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="camera topic (and <image_topic>/compressed)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and all its (relative) topics"),
        DeclareLaunchArgument("managed", default_value="false",
                              description="true: the lifecycle node (segmentation_lifecycle_node), "
                                          "unconfigured until configured and activated"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (e.g. from `swiftnet-ros play-bag --clock`)"),
        OpaqueFunction(function=_segmentation_node),
    ])
