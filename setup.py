"""pip install of the Python code (``make setup`` uses it editable; ROS 2 installs use CMake)."""

from setuptools import find_packages, setup

setup(
    name="swiftnet_ros",
    version="0.1.0",
    description="Real-time semantic segmentation of road-driving images with SwiftNet, for ROS 2",
    packages=find_packages(include=["swiftnet_ros", "swiftnet_ros.*"]),
    python_requires=">=3.6",
    install_requires=["numpy", "pyyaml"],
    entry_points={
        "console_scripts": [
            "swiftnet-ros = swiftnet_ros.commands.main:main",
            "segmentation_node = swiftnet_ros.commands.segmentation_node:main",
            "segmentation_lifecycle_node = swiftnet_ros.commands.segmentation_lifecycle_node:main",
        ]
    },
)
