"""SwiftNet real-time semantic segmentation for ROS 2.

The sub-packages are layered: ``ros`` -> ``infer`` -> ``model``; ``train`` -> ``model`` + ``data``.
Only ``swiftnet_ros.ros`` imports rclpy.
"""

__version__ = "0.1.0"

# The generated messages (swiftnet_ros.msg) may live in another install tree than these sources
# (editable developer setup); join them into one package, as a ROS 2 install does.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
