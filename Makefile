# Developer entry points. `make setup` is idempotent: a second run does nothing in seconds.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Large images between processes need Fast DDS's LARGE_DATA transports (see README).
export FASTDDS_BUILTIN_TRANSPORTS := LARGE_DATA
# The run-time path must run on a Jetson TX2 (Python 3.6, PyTorch 1.10): checked with vermin.
RUNTIME_PATH := swiftnet_ros/__init__.py swiftnet_ros/choices.py swiftnet_ros/sizes.py swiftnet_ros/files.py swiftnet_ros/ros swiftnet_ros/infer swiftnet_ros/model \
                swiftnet_ros/fields.py swiftnet_ros/stats.py swiftnet_ros/data/__init__.py swiftnet_ros/data/labels.py \
                swiftnet_ros/commands/__init__.py swiftnet_ros/commands/segmentation_node.py \
                swiftnet_ros/commands/segmentation_lifecycle_node.py
PYTEST_ARGS ?=

.PHONY: setup test lint demo clean

# The Jetson TX2's stack (JetPack 4.6: Python 3.6, PyTorch 1.10, onnxruntime 1.10) from pyenv + PyPI:
# the run-time path's tests run there, and its labels are compared with the main venv's (docs/jetson.md).
JETSON_VENV := .venv-jetson
JETSON_PY := $(JETSON_VENV)/bin/python
PYTHON36 ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)/versions/3.6.15/bin/python3.6
JETSON_REFERENCE := build/jetson-reference
JETSON_PYTEST_ARGS ?=
# the files that only run there, checked by vermin with the run-time path (where pyenv has no 3.6 too)
JETSON_STACK_FILES := test/conftest.py test/script_helpers.py test/jetson scripts/jetson_tests.py scripts/stack_versions.py
.PHONY: test-jetson-stack

$(JETSON_VENV)/.stamp-jetson: requirements-jetson.txt
	@test -x $(PYTHON36) || { echo "test-jetson-stack: no CPython 3.6 at $(PYTHON36) (pyenv install 3.6.15)"; exit 2; }
	test -x $(JETSON_PY) || $(PYTHON36) -m venv $(JETSON_VENV)
	$(JETSON_PY) -m pip install -q --disable-pip-version-check pip==21.3.1 2>&1 | grep -v "^WARNING: Location" || true
	$(JETSON_PY) -m pip install -q --disable-pip-version-check -r requirements-jetson.txt 2>&1 | grep -v "^WARNING: Location" || true
	echo $(CURDIR) > $$($(JETSON_PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/swiftnet_ros.pth
	$(JETSON_PY) -c "import torch, onnxruntime, cv2, yaml, dataclasses, swiftnet_ros"
	touch $@

test-jetson-stack: setup $(JETSON_VENV)/.stamp-jetson
	@$(JETSON_PY) scripts/stack_versions.py
	rm -rf $(JETSON_REFERENCE) && $(PY) scripts/jetson_reference.py $(JETSON_REFERENCE)
	$(JETSON_PY) scripts/jetson_tests.py > $(JETSON_REFERENCE)/test_files.txt
# one torch thread: fast and steady on a shared 2-core machine (OpenMP threads stall under load)
	OMP_NUM_THREADS=1 SWIFTNET_JETSON_REFERENCE=$(JETSON_REFERENCE) $(JETSON_PY) -m pytest -p no:cacheprovider -q -m "not modern_stack" \
	    $$(cat $(JETSON_REFERENCE)/test_files.txt) $(JETSON_PYTEST_ARGS)

setup: $(VENV)/.stamp-setup $(VENV)/.stamp-ros2-tools

# The ROS 2 tools (ros2 launch/topic/param/lifecycle, launch_testing, vision_msgs) that PyPI lacks,
# built for the pip-installed core (../shared/ros2-tools/README.md). Without that folder: skipped,
# and the tests that need them skip (a sourced ROS 2 install brings the distribution's own).
ROS2_TOOLS_WHEELS ?= ../shared/ros2-tools/wheels
ROS2_TOOLS := ros-ros2launch ros-ros2topic ros-ros2param ros-ros2node ros-ros2lifecycle ros-ros2run \
              ros-launch-testing-ros ros-launch-pytest ros-vision-msgs ros-composition-interfaces
$(VENV)/.stamp-ros2-tools: $(VENV)/.stamp-python $(wildcard $(ROS2_TOOLS_WHEELS)/*.whl)
	@if [ -d $(ROS2_TOOLS_WHEELS) ]; then \
	    echo "installing the ROS 2 tools from $(ROS2_TOOLS_WHEELS)"; \
	    $(PY) -m pip install -q --disable-pip-version-check --no-index --find-links $(ROS2_TOOLS_WHEELS) \
	        $(ROS2_TOOLS) 2>&1 | grep -v "^WARNING: Location" || true; \
	    $(PY) -c "import launch_ros, launch_testing, ros2cli, vision_msgs.msg" && touch $@; \
	else echo "ROS 2 tools skipped: no $(ROS2_TOOLS_WHEELS) (ros2 launch/topic/param and launch_testing tests skip)"; fi

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
	$(VENV)/bin/vermin -t=3.6- --no-tips --violations --backport dataclasses $(RUNTIME_PATH) $(JETSON_STACK_FILES)

test: setup lint
	$(PY) scripts/clean_fastdds_shm.py   # segments left by killed ROS 2 processes stall discovery
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
	@if [ -x $(PYTHON36) ]; then $(MAKE) --no-print-directory test-jetson-stack; \
	else echo "test-jetson-stack skipped: no CPython 3.6 at $(PYTHON36) (pyenv install 3.6.15)"; fi

# `ros2 launch swiftnet_ros ...` from the pip set-up: the package as a ROS 2 install tree (CMake install, ament
# index entry) in $(INSTALL_TREE)/; prints the export lines that find it, also written to $(INSTALL_TREE)/setup.sh.
INSTALL_TREE ?= install
.PHONY: install-tree
install-tree: setup
	@$(PY) scripts/install_tree.py $(INSTALL_TREE)

demo: setup
	$(VENV)/bin/swiftnet-ros demo

clean:
	rm -rf $(VENV) demo_out $(INSTALL_TREE) build/swiftnet_ros
