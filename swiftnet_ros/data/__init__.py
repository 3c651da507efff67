"""Datasets, label tables, transforms and the synthetic road-scene generator.

Import the sub-modules directly (``swiftnet_ros.data.labels`` has no torch import and runs on the
Jetson's Python 3.6; the others need torch).
"""
