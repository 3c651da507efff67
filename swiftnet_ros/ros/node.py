"""segmentation_node: a thin rclpy adapter over swiftnet_ros.infer.Segmenter.

Topics (relative, so a namespace moves them): subscribes ``image`` (sensor_msgs/Image) or
``image/compressed``, and ``camera_info``; publishes ``segmentation/labels`` (mono8),
``segmentation/color`` (rgb8), ``segmentation`` (SegmentationInfo), ``segmentation/camera_info``
(the camera's at the labels' size, once camera_info arrives) and, when switched on,
``segmentation/overlay`` (rgb8), ``segmentation/confidence`` (mono8) and
``segmentation/labels/compressed`` (PNG), each with the input header; ``segmentation/label_info``
(vision_msgs/LabelInfo, latched) at start; ``/diagnostics`` about once a second. The work is
``SegmentationCore``'s, shared with the managed node (``lifecycle_node``).

The subscription callback only checks a frame's fields and puts it in a one-frame slot; a worker
thread runs it through the ROS-free ``frame_pipeline`` (conversion, segmentation, colours) and
publishes, so callbacks never wait for the model and a camera faster than the model costs dropped
(counted) frames, not latency.

Run: ``segmentation_node --ros-args -p weights:=mnv2 -p input_size:=1024x512`` or
``python -m swiftnet_ros.commands.segmentation_node --ros-args --params-file config/segment.yaml``
(``run`` here is the rclpy loop; the executable's ``main`` is in ``swiftnet_ros.commands``).
"""

import logging
import os
import signal
import sys
import threading
import time
from collections import namedtuple
from typing import Any, Callable, Dict, List, Optional, Tuple

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import (
    QoSDurabilityPolicy,
    QoSHistoryPolicy,
    QoSProfile,
    QoSReliabilityPolicy,
    qos_profile_sensor_data,
    qos_profile_system_default,
)
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from swiftnet_ros.infer.weights import ENGINE_SUFFIXES
from swiftnet_ros.msg import SegmentationInfo
from swiftnet_ros.ros import image_conversion as conversion
from swiftnet_ros.ros.camera_info import CalibrationBuffer, fill_message, from_message, scale_calibration
from swiftnet_ros.ros.frame_pipeline import (
    LABELS_PNG_FORMAT,
    CompressedFrame,
    FramePipeline,
    RawImage,
    check_frame,
)
from swiftnet_ros.ros.params import (
    NODE_NAME,
    QOS_CHOICES,
    ConfigError,
    NodeConfig,
    check_runtime_change,
    load_palette,
    parameter_info,
    parameter_names,
    resolve_weights,
)
from swiftnet_ros.ros.plumbing import FrameSlot, InputWatch, NodeStats, Throttle, quiet_input_message

try:  # vision_msgs is optional: without it the node runs, with label_info off (it says so once)
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:
    LabelInfo = VisionClass = None

try:  # rclpy >= Humble raises this from spin() when a signal shuts the context down
    from rclpy.executors import ExternalShutdownException
except ImportError:  # pragma: no cover - Foxy
    ExternalShutdownException = KeyboardInterrupt

# Parameters that rclpy itself declares or accepts; they are not ours to reject.
ROS_OWN_PARAMETERS = ("use_sim_time", "start_type_description_service")
ROS_OWN_PREFIXES = ("qos_overrides.",)

# one frame waiting for the worker: its fields, its header, when it arrived (monotonic s)
Frame = namedtuple("Frame", "source header received")


def make_qos(name: str, depth: int) -> QoSProfile:
    """The QoS profile for a ``input_qos`` / ``output_qos`` value (see params.QOS_CHOICES)."""
    if name == "sensor_data":
        profile = QoSProfile(depth=depth)
        profile.reliability = qos_profile_sensor_data.reliability
        profile.durability = qos_profile_sensor_data.durability
        return profile
    if name == "system_default":
        profile = QoSProfile(depth=depth)
        profile.reliability = qos_profile_system_default.reliability
        profile.durability = qos_profile_system_default.durability
        return profile
    reliability = {"reliable": QoSReliabilityPolicy.RELIABLE, "best_effort": QoSReliabilityPolicy.BEST_EFFORT}
    if name not in reliability:
        raise ConfigError("QoS {!r}; expected one of: {}".format(name, ", ".join(QOS_CHOICES)))
    return QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability[name],
                      durability=QoSDurabilityPolicy.VOLATILE)


def descriptor_for(name: str) -> ParameterDescriptor:
    """A ROS parameter descriptor from params.NodeConfig: description, allowed values, range."""
    info = parameter_info(name)
    text = "{} ({}{})".format(info["description"], info["type"],
                              "" if info["runtime"] else ", start-up only")
    descriptor = ParameterDescriptor(name=name, description=text, dynamic_typing=True)
    if info["choices"]:
        descriptor.additional_constraints = "one of: {}".format(", ".join(info["choices"]))
    if info["low"] is not None and info["type"] == "float":
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(info["low"]),
                                                              to_value=float(info["high"]), step=0.0)]
    elif info["low"] is not None and info["type"] == "int":
        descriptor.integer_range = [IntegerRange(from_value=int(info["low"]), to_value=int(info["high"]),
                                                 step=1)]
    return descriptor


class RosLogHandler(logging.Handler):
    """Forwards the library's Python log records (engine builds, cache hits) to the node's ROS logger."""

    def __init__(self, ros_logger: Any) -> None:
        super().__init__(logging.INFO)
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        text = "{}: {}".format(record.name, record.getMessage())
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(text)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warning(text)
        else:
            self._ros_logger.info(text)


def _fill(msg: Any, fields: Dict[str, Any], header: Any) -> Any:
    conversion.fill_image(msg, fields)
    msg.header = header
    return msg


def _stamp(header: Any) -> Tuple[int, int]:
    return int(header.stamp.sec), int(header.stamp.nanosec)


class SegmentationCore:
    """The work of the plain node (``SegmentationNode``) and of the managed one (``lifecycle_node``):
    parameters, model, topics, worker and diagnostics, written once. A mixin over rclpy's ``Node`` or
    ``LifecycleNode`` (``self`` is the node); the subclass calls ``_setup`` after its node's __init__."""

    def _setup(self) -> None:
        self._check_overrides()
        for name in parameter_names():
            self.declare_parameter(name, parameter_info(name)["default"], descriptor_for(name))
        self.config = None  # type: Optional[NodeConfig]
        self._startup_changes = False  # True while unconfigured (managed node): any parameter may change
        self._bad_frames = Throttle(5.0)
        self._failures = Throttle(5.0)
        self._bad_infos = Throttle(5.0)
        self.stats = NodeStats()
        self._input_watch = InputWatch()
        self._slot = FrameSlot()
        self._stopping = threading.Event()
        self._worker = None  # type: Optional[threading.Thread]
        self._endpoints = []  # type: List[Any]
        self._calibrations = CalibrationBuffer()
        self._label_info_off_said = False
        self.segmenter = None  # type: Any
        self.pipeline = None  # type: Optional[FramePipeline]
        self.add_on_set_parameters_callback(self._on_set_parameters)
        library_log = logging.getLogger("swiftnet_ros")
        for handler in [h for h in library_log.handlers if isinstance(h, RosLogHandler)]:
            library_log.removeHandler(handler)
        library_log.addHandler(RosLogHandler(self.get_logger()))
        library_log.setLevel(logging.INFO)
        library_log.propagate = False

    def _check_overrides(self) -> None:
        """Validate the -p / params-file values before declaring, so every mistake gets our clear message.

        A value for a parameter we do not have is an error too, not silently ignored.
        """
        overrides = getattr(self, "_parameter_overrides", {})  # rclpy keeps them here (Foxy..Kilted)
        ours = {name: p.value for name, p in overrides.items()
                if name not in ROS_OWN_PARAMETERS and not name.startswith(ROS_OWN_PREFIXES)}
        NodeConfig.from_dict(ours, source="ROS parameters (-p / --params-file)")

    def read_parameters(self) -> NodeConfig:
        """The declared parameters as a checked NodeConfig (ConfigError names the first bad one)."""
        values = {name: self.get_parameter(name).value for name in parameter_names()}
        config = NodeConfig.from_dict(values, source="parameters")
        self.config = config
        self._bad_frames.period = self._failures.period = self._bad_infos.period = config.error_log_period
        return config

    def load_model(self) -> None:
        """Load the weights (seconds; minutes for a TensorRT engine build); ``run`` calls it in a thread."""
        segmenter = self._load_segmenter()
        palette = load_palette(self.config.palette, segmenter.num_classes)
        if palette is not None:
            segmenter.set_palette(palette)
        self.segmenter = segmenter
        self.pipeline = FramePipeline(segmenter)

    def release_model(self) -> None:
        """Drop the model (the managed node's cleanup), and the CUDA memory it held."""
        device = getattr(self.segmenter, "device", None)
        self.segmenter = self.pipeline = None
        if device is not None and getattr(device, "type", "") == "cuda":
            import torch

            torch.cuda.empty_cache()

    def start(self) -> None:
        """Create the topics, the diagnostics timer and the worker: from here on frames are answered."""
        config = self.config
        out_qos = make_qos(config.output_qos, config.qos_depth)
        self._labels_pub = self._endpoint(self.create_publisher(Image, "segmentation/labels", out_qos))
        self._color_pub = self._endpoint(self.create_publisher(Image, "segmentation/color", out_qos))
        self._overlay_pub = self._endpoint(self.create_publisher(Image, "segmentation/overlay", out_qos))
        self._confidence_pub = self._endpoint(self.create_publisher(Image, "segmentation/confidence",
                                                                    out_qos))
        self._compressed_pub = self._endpoint(self.create_publisher(
            CompressedImage, "segmentation/labels/compressed", out_qos))
        self._camera_info_pub = self._endpoint(self.create_publisher(CameraInfo, "segmentation/camera_info",
                                                                     out_qos))
        self._info_pub = self._endpoint(self.create_publisher(SegmentationInfo, "segmentation", out_qos))
        self._diag_pub = self._endpoint(self.create_publisher(DiagnosticArray, "/diagnostics", 10))
        self._publish_label_info()
        in_qos = make_qos(config.input_qos, config.qos_depth)
        if config.input_transport == "compressed":
            self._sub = self.create_subscription(CompressedImage, "image/compressed", self._on_compressed,
                                                 in_qos)
        else:
            self._sub = self.create_subscription(Image, "image", self._on_image, in_qos)
        self._endpoint(self._sub)
        self._calibrations.clear()
        self._endpoint(self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, in_qos))
        self._endpoint(self.create_timer(config.diagnostics_period, self._publish_diagnostics))
        self._input_watch = InputWatch()  # publishers matched from this subscription on
        self._slot = FrameSlot()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._work, args=(self._slot, self._stopping),
                                        name="segmentation_worker", daemon=True)
        self._worker.start()
        self.get_logger().info("ready: {} -> {}; subscribed to {} ({} QoS)".format(
            self.segmenter.describe(), self._info_pub.topic_name, self._sub.topic_name, config.input_qos))

    def close(self) -> bool:
        """Undo ``start``: stop the worker, remove the topics and timer (the managed node's deactivate).
        True if the worker finished at once (see ``stop``)."""
        finished = self.stop()
        for endpoint in reversed(self._endpoints):
            if isinstance(endpoint, Publisher):
                self.destroy_publisher(endpoint)
            elif isinstance(endpoint, Subscription):
                self.destroy_subscription(endpoint)
            else:
                self.destroy_timer(endpoint)
        self._endpoints = []
        return finished

    def _endpoint(self, endpoint: Any) -> Any:
        self._endpoints.append(endpoint)
        return endpoint

    def _publish_label_info(self) -> None:
        """segmentation/label_info (vision_msgs/LabelInfo: class id -> name), latched for late joiners."""
        if LabelInfo is None:
            if not self._label_info_off_said:
                self.get_logger().warning("vision_msgs is not installed: segmentation/label_info is off")
                self._label_info_off_said = True
            return
        latched = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=1,
                             reliability=QoSReliabilityPolicy.RELIABLE,
                             durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
        publisher = self._endpoint(self.create_publisher(LabelInfo, "segmentation/label_info", latched))
        msg = LabelInfo(threshold=0.0)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.class_map = [VisionClass(class_id=class_id, class_name=name)
                         for class_id, name in self.pipeline.label_map()]
        publisher.publish(msg)

    def _load_segmenter(self) -> Any:
        from swiftnet_ros.infer import Segmenter  # imports torch: only after the parameters were checked
        from swiftnet_ros.infer.backend import resolve_device
        from swiftnet_ros.infer.registry import auto_times, choose_backend, thread_options
        from swiftnet_ros.infer.weights import weights_kind

        config = self.config
        weights = resolve_weights(config.weights)
        log = self.get_logger()
        engine = config.backend == "tensorrt" or weights.lower().endswith(ENGINE_SUFFIXES)
        if engine:
            log.info("loading {} with TensorRT: building an engine for a new model, size or precision takes "
                     "minutes on a Jetson; a cached engine loads in seconds".format(weights))
        else:
            log.info("loading {} (backend {}, {}, device {})".format(
                weights, config.backend, config.precision, config.device))
        start = time.monotonic()
        options = {}
        if config.cpu_threads:
            import torch

            torch.set_num_threads(config.cpu_threads)
            device_type = resolve_device(config.device).type
            kind = weights_kind(weights)
            if not auto_times(config.backend, kind, device_type, config.precision):  # timed: torch's threads
                backend = choose_backend(config.backend, kind, device_type, config.precision)
                options = thread_options(backend, config.cpu_threads)
            log.info("model on {} CPU thread(s)".format(config.cpu_threads))
        segmenter = Segmenter(weights, backend=config.backend, precision=config.precision,
                              device=config.device, input_size=config.input_hw(),
                              output_size=config.output_size, warmup=config.warmup,
                              engine_cache_dir=config.engine_cache_dir or None,
                              force_engine_rebuild=config.force_engine_rebuild, backend_options=options)
        log.info("model ready in {:.1f} s{}: {}; {}".format(
            time.monotonic() - start, " (TensorRT engine built or loaded)" if engine else "",
            segmenter.describe(), segmenter.backend_reason))
        return segmenter

    # ------------------------------------------------------------------ callbacks (executor thread)
    def _on_image(self, msg: Image) -> None:
        self._enqueue(RawImage(msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian),
                      msg.header)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._enqueue(CompressedFrame(msg.format, msg.data), msg.header)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        if msg.width == 0 or msg.height == 0:  # not a frame: logged (throttled), not counted as malformed
            log_now, held = self._bad_infos.ready(time.monotonic())
            if log_now:
                self.get_logger().warning("skipped a camera_info with size {}x{}: expected the calibrated "
                                          "size{}".format(msg.width, msg.height,
                                                          " ({} more)".format(held) if held else ""))
            return
        self._calibrations.add(_stamp(msg.header), from_message(msg))

    def _enqueue(self, source: Any, header: Any) -> None:
        now = time.monotonic()
        self.stats.frame_received(now)
        try:
            check_frame(source)
        except conversion.ImageConversionError as exc:
            self._bad_frame(now, exc)
            return
        self._slot.put(Frame(source, header, now))

    def _bad_frame(self, now: float, exc: Exception) -> None:
        self.stats.frame_malformed()
        log_now, held = self._bad_frames.ready(now)
        if log_now:
            more = " ({} more bad frames since the last message)".format(held) if held else ""
            self.get_logger().warning("skipped a bad frame: {}{}".format(exc, more))

    def _on_set_parameters(self, parameters: List[Any]) -> SetParametersResult:
        ours = [p for p in parameters if p.name in parameter_names()]
        if self._startup_changes:  # unconfigured: start-up parameters too, read at the next configure
            values = {name: self.get_parameter(name).value for name in parameter_names()}
            values.update((p.name, p.value) for p in ours)
            try:
                NodeConfig.from_dict(values, source="parameters")
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            return SetParametersResult(successful=True)
        config = self.config
        for parameter in ours:
            try:
                config = check_runtime_change(parameter.name, parameter.value, config)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        self.config = config
        self._bad_frames.period = self._failures.period = self._bad_infos.period = config.error_log_period
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ worker thread
    def _work(self, slot: FrameSlot, stopping: threading.Event) -> None:
        while not stopping.is_set():
            frame = slot.take(timeout=0.2)
            if frame is None or stopping.is_set():
                continue
            try:
                self._process(frame, slot, stopping)
            except conversion.ImageConversionError as exc:
                self._bad_frame(time.monotonic(), exc)
            except Exception as exc:  # a failing frame must not stop the node
                if stopping.is_set():
                    return
                self.stats.frame_failed()
                log_now, held = self._failures.ready(time.monotonic())
                if log_now:
                    more = " ({} more failures since the last message)".format(held) if held else ""
                    self.get_logger().error("segmentation failed: {}: {}{}".format(
                        type(exc).__name__, " ".join(str(exc).split()), more))

    def _process(self, frame: Frame, slot: FrameSlot, stopping: threading.Event) -> None:
        config = self.config  # one consistent set of run-time parameters per frame
        pipeline = self.pipeline
        start = time.perf_counter()
        confidence = config.publish_confidence and self._confidence_pub.get_subscription_count() > 0
        result = pipeline.segment(frame.source, confidence=confidence)
        if stopping.is_set():
            return
        header = frame.header
        # the answer first (labels, then the info with its statistics, the camera model of the labels),
        # the pictures for people after: consumers of the labels never wait for colourisation
        self._labels_pub.publish(_fill(Image(), conversion.mono8_fields(result.labels), header))
        summary = result.summary
        info = SegmentationInfo(model=summary.model, backend=summary.backend, precision=summary.precision,
                                height=summary.height, width=summary.width)
        info.header = header
        info.class_names = summary.class_names
        info.class_fractions = summary.class_fractions
        info.inference_ms = summary.inference_ms
        info.total_ms = float((time.monotonic() - frame.received) * 1e3)
        info.dropped_frames = slot.dropped
        self._info_pub.publish(info)
        calibration = self._calibrations.match(_stamp(header))
        if calibration is not None:
            scaled = scale_calibration(calibration, summary.width, summary.height)
            camera_info = fill_message(CameraInfo(), scaled)
            camera_info.header = header
            self._camera_info_pub.publish(camera_info)
        if result.confidence is not None:
            self._confidence_pub.publish(_fill(Image(), conversion.mono8_fields(result.confidence), header))
        if config.publish_compressed_labels and self._compressed_pub.get_subscription_count() > 0:
            compressed = CompressedImage(format=LABELS_PNG_FORMAT, data=pipeline.compressed_labels(result))
            compressed.header = header
            self._compressed_pub.publish(compressed)
        if config.publish_color and self._color_pub.get_subscription_count() > 0:
            color = pipeline.color(result)
            self._color_pub.publish(_fill(Image(), conversion.rgb8_fields(color), header))
        if config.publish_overlay and self._overlay_pub.get_subscription_count() > 0:
            blended = pipeline.overlay(result, config.overlay_alpha)
            self._overlay_pub.publish(_fill(Image(), conversion.rgb8_fields(blended), header))
        total_ms = (time.monotonic() - frame.received) * 1e3
        timings = result.timings
        overhead_ms = (time.perf_counter() - start) * 1e3 - timings["segment"]  # all but the segmenter
        colorize_ms = timings.get("colorize", 0.0)
        self.stats.frame_published(time.monotonic(), {
            "conversion": timings["conversion"], "inference": timings["segment"], "colorize": colorize_ms,
            "publish": overhead_ms - timings["conversion"] - colorize_ms, "overhead": overhead_ms,
            "total": total_ms})

    # ------------------------------------------------------------------ diagnostics (executor thread)
    def diagnostics(self) -> DiagnosticArray:
        figures = self.stats.snapshot(time.monotonic(), self._slot.dropped)
        status = DiagnosticStatus(name="{}: segmentation".format(self.get_fully_qualified_name()),
                                  hardware_id=str(self.segmenter.device))
        publishers = self._sub.get_publisher_count()
        quiet = self._input_watch.quiet_for(time.monotonic(), publishers, self.stats.last_received)
        if figures["inference_errors"]:
            status.level = DiagnosticStatus.ERROR
        elif (figures["frames_received"] and not figures["frames_published"]) or quiet is not None:
            status.level = DiagnosticStatus.WARN
        else:
            status.level = DiagnosticStatus.OK
        status.message = "{:.1f} Hz in, {:.1f} Hz out, latency p50 {:.0f} ms p95 {:.0f} ms, {} dropped, " \
                         "{} malformed".format(figures["input_rate_hz"], figures["output_rate_hz"],
                                               figures["total_ms_p50"], figures["total_ms_p95"],
                                               figures["frames_dropped"], figures["frames_malformed"])
        if quiet is not None:
            status.message = quiet_input_message(publishers, self._sub.topic_name, quiet,
                                                 self.config.input_qos in ("sensor_data", "best_effort")) \
                + "; " + status.message
        values = [("backend", self.segmenter.backend_name), ("precision", self.segmenter.precision),
                  ("model", self.segmenter.model_name), ("device", str(self.segmenter.device)),
                  ("input_size", "native" if self.segmenter.input_size is None else
                   "{}x{}".format(self.segmenter.input_size[1], self.segmenter.input_size[0])),
                  ("input_publishers", str(publishers)),
                  ("input_quiet_s", "" if quiet is None else "{:.1f}".format(quiet))]
        for key, value in figures.items():
            text = "{:.2f}".format(value) if isinstance(value, float) else str(value)
            values.append((key.replace("total_ms", "latency_ms"), text))
        status.values = [KeyValue(key=key, value=value) for key, value in values]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        return array

    def _publish_diagnostics(self) -> None:
        self._diag_pub.publish(self.diagnostics())

    # ------------------------------------------------------------------ shutdown
    def stop(self, timeout: float = 0.25) -> bool:
        """Stop the worker; True if it finished within ``timeout`` seconds (it may be mid-inference)."""
        self._stopping.set()
        self._slot.close()
        if self._worker is None:
            return True
        self._worker.join(timeout)
        return not self._worker.is_alive()


class SegmentationNode(SegmentationCore, Node):
    """Image in, labels / colours / overlay / summary out (see the module docstring); the parameters
    are checked at construction, ``load_model`` then ``start`` make it answer."""

    def __init__(self, **node_kwargs: Any) -> None:
        Node.__init__(self, NODE_NAME, **node_kwargs)
        self._setup()
        self.read_parameters()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (ConfigError, FileNotFoundError, ValueError)):
        return text
    return "{}: {}".format(type(exc).__name__, text)


def _install_sigterm_handler() -> None:
    """Older rclpy (Foxy) handles only SIGINT; make SIGTERM stop spin() the same way there."""
    if hasattr(rclpy, "signals") and hasattr(rclpy.signals, "SignalHandlerOptions"):
        return  # Humble and newer: rclpy handles SIGINT and SIGTERM itself

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _ignore_repeated_interrupts() -> None:
    """Once shutting down: rclpy's signal handlers out, then further SIGINTs and SIGTERMs pass.

    rclpy hands each signal to a thread of its own that triggers the executors' guard conditions,
    which executor.shutdown() frees: a signal's thread still at work then touches freed memory (exit
    -11 at Ctrl-C, about 1 run in 20). Uninstalling the handlers first waits for that thread. A
    terminal's Ctrl-C reaches the node twice under ``ros2 launch`` (the terminal signals the whole
    process group, then launch forwards its own): the second one must not raise KeyboardInterrupt
    inside destroy_node. Python handlers that do nothing, not SIG_IGN: rclpy's shutdown restores the
    interpreter's handler, which then calls them. The shutdown that follows is bounded (os._exit)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if hasattr(rclpy, "signals") and hasattr(rclpy.signals, "uninstall_signal_handlers"):
        rclpy.signals.uninstall_signal_handlers()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: None)


def _load_in_background(node: SegmentationNode) -> Optional[BaseException]:
    """Load the model in a thread while this one watches for a shutdown, so that SIGINT / SIGTERM stop
    the node at once even during a TensorRT engine build; the error if loading failed, else None."""
    failure = []  # type: List[BaseException]

    def load() -> None:
        try:
            node.load_model()
        except BaseException as exc:  # reported by the caller as one line
            failure.append(exc)

    loader = threading.Thread(target=load, name="model_loader", daemon=True)
    loader.start()
    while loader.is_alive() and rclpy.ok():
        loader.join(0.1)
    if loader.is_alive():
        raise KeyboardInterrupt  # shut down by a signal while loading
    return failure[0] if failure else None


def _fatal(exc: BaseException) -> int:
    """One clear line instead of a traceback (SWIFTNET_ROS_DEBUG=1 shows it); the exit code."""
    get_logger(NODE_NAME).fatal("cannot start: {}".format(_one_line(exc)))
    if os.environ.get("SWIFTNET_ROS_DEBUG"):
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    rclpy.try_shutdown()
    # a bad parameter, weights file or setting (fp16 on a CPU) is a configuration error, as for the
    # swiftnet-ros commands; anything else (out of memory, a failed engine build) a run-time failure
    return 2 if isinstance(exc, (ValueError, FileNotFoundError)) else 1


def _shutdown_follows(timeout: float = 0.5) -> bool:
    """True if the rclpy context is, or within ``timeout`` becomes, shut down (a signal's shutdown)."""
    deadline = time.monotonic() + timeout
    while rclpy.ok():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def run(argv: Optional[List[str]] = None) -> int:
    """Run the node until SIGINT/SIGTERM; 0 then, 2 for a bad configuration, 1 if the model cannot load."""
    rclpy.init(args=sys.argv if argv is None else argv)
    _install_sigterm_handler()
    try:
        node = SegmentationNode()
        failure = _load_in_background(node)
        if failure is not None:
            return _fatal(failure)
        # the executor before "ready": a Ctrl-C right after that line lands in spin's handler
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        node.start()
    except (KeyboardInterrupt, ExternalShutdownException):
        _ignore_repeated_interrupts()
        get_logger(NODE_NAME).info("interrupted during start-up")
        rclpy.try_shutdown()
        return 0
    except Exception as exc:
        return _fatal(exc)
    spin(node, executor=executor)
    return 0


def spin(node: Any, done: Callable[[], bool] = lambda: False, executor: Optional[Any] = None) -> None:
    """Spin ``node`` (plain or managed) until SIGINT / SIGTERM or ``done()``; then stop its worker,
    destroy it and shut rclpy down. ``executor``: one that ``node`` was added to already."""
    if executor is None:
        executor = SingleThreadedExecutor()
        executor.add_node(node)
    try:
        # spin_once with a timeout, not spin(): a shutdown by signal is noticed within 0.1 s even if
        # its wake-up of the executor is missed
        while rclpy.ok() and not done():
            try:
                executor.spin_once(timeout_sec=0.1)
            except Exception:
                # a signal can land between ok() and the wait set's creation ("the given context is
                # not valid") or inside taking a message (pybind: "Unable to convert call argument"),
                # a moment before the context is marked shut down: that is the requested shutdown
                if not _shutdown_follows():
                    raise
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        _ignore_repeated_interrupts()
        executor.shutdown(timeout_sec=0.5)
        if node.stop():
            node.destroy_node()
        rclpy.try_shutdown()
