# Developer entry points. `make setup` is idempotent: a second run does nothing in seconds.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Large images between processes need Fast DDS's LARGE_DATA transports (see README).
export FASTDDS_BUILTIN_TRANSPORTS := LARGE_DATA
# The run-time path must run on a Jetson TX2 (Python 3.6, PyTorch 1.10): checked with vermin.
RUNTIME_PATH := swiftnet_ros/__init__.py swiftnet_ros/sizes.py swiftnet_ros/files.py swiftnet_ros/ros swiftnet_ros/infer swiftnet_ros/model \
                swiftnet_ros/fields.py swiftnet_ros/data/__init__.py swiftnet_ros/data/labels.py \
                swiftnet_ros/commands/__init__.py swiftnet_ros/commands/segmentation_node.py
PYTEST_ARGS ?=

.PHONY: setup test lint demo clean

setup: $(VENV)/.stamp-setup

$(VENV)/.stamp-python: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import torch, rclpy, onnx, cv2, rosbags" 
	touch $@

$(VENV)/.stamp-msgs: $(VENV)/.stamp-python msg/SegmentationInfo.msg CMakeLists.txt package.xml scripts/build_msgs.sh
	bash scripts/build_msgs.sh
	touch $@

$(VENV)/.stamp-setup: $(VENV)/.stamp-msgs setup.py scripts/extend_activate.sh
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING: Location" || true
	bash scripts/extend_activate.sh $(VENV)
	$(PY) -c "import swiftnet_ros, rclpy; from swiftnet_ros.msg import SegmentationInfo"
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/vermin -t=3.6- --no-tips --violations --backport dataclasses $(RUNTIME_PATH)

test: setup lint
	$(PY) scripts/clean_fastdds_shm.py   # segments left by killed ROS 2 processes stall discovery
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/swiftnet-ros demo

clean:
	rm -rf $(VENV) demo_out
