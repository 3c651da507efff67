"""The end-to-end demo (``swiftnet-ros demo``, ``make demo``): the node on the bundled checkpoint over a
synthetic bag.

It makes (or reuses) a synthetic rosbag2 with exact ground truth, starts ``segmentation_node`` as a
separate process on the CPU with reliable input QoS, plays the bag with ``play-bag`` (another
process) at a rate the CPU keeps up with, records every output here with rclpy, and writes to
``demo_out/``: a contact sheet (input | colour mask | overlay | ground truth), a latency histogram
and ``summary.json``. It exits non-zero if the node failed or any frame went unanswered.

Every process gets ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA``: without it Fast DDS loses large
images between processes (see the README).
"""

import functools
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from swiftnet_ros.stats import percentile
from swiftnet_ros.tools import bags
from swiftnet_ros.tools.processes import join_topic, node_command, spin_until, stop_process, use_ros_env

DEFAULT_OUT = "demo_out"
DEFAULT_NAMESPACE = "/swiftnet_demo"
RECORDED_RATE = 10.0  # frames per second in the synthetic bag's header stamps
LABELS, COLOR, OVERLAY = "segmentation/labels", "segmentation/color", "segmentation/overlay"
INFO = "segmentation"
SHEET_ROWS = 4
# demo/train_demo.yaml trains on seeds 0..1999, validates on 1000000.., evaluates on 424242..: not these
DEMO_SEED = 700000


def play_command(bag: str, bag_topic: str, topic: str, rate: float, publish_log: Optional[str] = None,
                 answer_topic: Optional[str] = None, wait_timeout: float = 120.0) -> List[str]:
    """``swiftnet-ros play-bag`` of the camera topic only, reliable, after the node subscribed.

    With ``answer_topic`` (the node's labels) each frame waits for the previous one's answer, so the
    rate adapts to what the CPU keeps up with and no frame is dropped; ``rate`` is then an upper bound.
    """
    command = [sys.executable, "-m", "swiftnet_ros.commands.main", "play-bag", bag, "--topics", bag_topic,
               "--topic-remap", "{}:={}".format(bag_topic, topic), "--rate", repr(rate), "--qos", "reliable",
               "--depth", "100", "--wait-for-subscribers", "1", "--wait-timeout", repr(wait_timeout)]
    if answer_topic:
        command += ["--answer-topic", answer_topic, "--max-in-flight", "1"]
    return command + (["--publish-log", publish_log] if publish_log else [])


class OutputRecorder:
    """Subscribes to every output of the node and keeps them by input header stamp (ns).

    Labels and info are kept for every frame; colour and overlay images only for ``keep_images``.
    """

    def __init__(self, node: Any, namespace: str, keep_images: Sequence[int] = ()) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from swiftnet_ros.msg import SegmentationInfo

        self.node = node
        self.namespace = namespace
        self.keep_images = set(keep_images)
        self.labels: Dict[int, np.ndarray] = {}
        self.frame_ids: Dict[int, str] = {}
        self.received_at: Dict[int, float] = {}
        self.color: Dict[int, np.ndarray] = {}
        self.overlay: Dict[int, np.ndarray] = {}
        self.info: Dict[int, Any] = {}
        self.diagnostics: Dict[str, str] = {}
        self.duplicates = 0
        qos = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.topics = {name: join_topic(namespace, name) for name in (LABELS, COLOR, OVERLAY, INFO)}
        node.create_subscription(Image, self.topics[LABELS], self._on_labels, qos)
        node.create_subscription(Image, self.topics[COLOR], self._image_callback(self.color), qos)
        node.create_subscription(Image, self.topics[OVERLAY], self._image_callback(self.overlay), qos)
        node.create_subscription(SegmentationInfo, self.topics[INFO], self._on_info, qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, qos)

    def _on_labels(self, msg: Any) -> None:
        stamp = bags.stamp_to_ns(msg.header.stamp)
        if stamp in self.labels:
            self.duplicates += 1
        self.received_at[stamp] = time.time()
        self.frame_ids[stamp] = msg.header.frame_id
        self.labels[stamp] = bags.labels_to_array(msg)

    def _image_callback(self, store: Dict[int, np.ndarray]) -> Any:
        def callback(msg: Any) -> None:
            stamp = bags.stamp_to_ns(msg.header.stamp)
            if stamp in self.keep_images:
                store[stamp] = bags.image_to_array(msg).copy()
        return callback

    def _on_info(self, msg: Any) -> None:
        self.info[bags.stamp_to_ns(msg.header.stamp)] = msg

    def _on_diagnostics(self, msg: Any) -> None:
        ours = join_topic(self.namespace, "segmentation_node") + ":"
        for status in msg.status:
            if status.name.startswith(ours):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def node_ready(self, image_topic: str) -> bool:
        """The node subscribes the camera topic and its labels publisher has been discovered."""
        return (self.node.count_subscribers(image_topic) > 0
                and self.node.count_publishers(self.topics[LABELS]) > 0
                and self.node.count_publishers(self.topics[INFO]) > 0)

    def discovery_state(self, image_topic: str) -> str:
        """What this process sees of the node, for an error message."""
        return "subscribers of {}: {}, publishers of {}: {}, of {}: {}".format(
            image_topic, self.node.count_subscribers(image_topic), self.topics[LABELS],
            self.node.count_publishers(self.topics[LABELS]), self.topics[INFO],
            self.node.count_publishers(self.topics[INFO]))

    def answered(self, stamps: Sequence[int]) -> int:
        return sum(1 for s in stamps if s in self.labels and s in self.info)


def ensure_bag(out_dir: str, frames: int, size: Tuple[int, int], seed: int) -> Tuple[str, bool]:
    """A cached synthetic bag under ``out_dir/bags`` for these arguments: (path, reused)."""
    path = os.path.join(out_dir, "bags", "synthetic_{}f_{}x{}_seed{}".format(frames, size[1], size[0], seed))
    if os.path.isdir(path):
        try:
            description = bags.synthetic_description(path)
        except (OSError, ValueError, KeyError):
            description = None
        if description and (description["frames"], description["height"], description["width"],
                            description["seed"]) == (frames, size[0], size[1], seed):
            return path, True
    bags.write_synthetic_bag(path, frames, size=size, seed=seed, rate=RECORDED_RATE, overwrite=True)
    return path, False


def read_publish_log(path: str) -> Dict[int, float]:
    """header stamp (ns) -> wall time (s) at which play-bag published it."""
    published = {}
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                _, _, stamp, wall_ns = line.strip().split(",")
                published[int(stamp)] = int(wall_ns) / 1e9
    return published


def played_fps(published_at: Dict[int, float]) -> Optional[float]:
    """Frames per second play-bag achieved, from its publish log."""
    times = sorted(published_at.values())
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None


def mean_iou(predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], class_names: Sequence[str]
             ) -> Tuple[Optional[float], Dict[str, Optional[float]]]:
    """mIoU (and IoU per class, None where a class is absent) with the training code's ConfusionMatrix."""
    import math

    import torch

    from swiftnet_ros.train.metrics import ConfusionMatrix

    if not predictions:
        return None, {}
    confusion = ConfusionMatrix(len(class_names))
    for prediction, truth in zip(predictions, truths):
        confusion.update(torch.from_numpy(prediction.astype(np.int64)),
                         torch.from_numpy(truth.astype(np.int64)))
    iou = np.asarray(confusion.per_class_iou(), dtype=np.float64).tolist()
    per_class = {name: (None if math.isnan(v) else float(v)) for name, v in zip(class_names, iou)}
    return float(confusion.miou()), per_class


def write_contact_sheet(path: str, rows: Sequence[Tuple[str, np.ndarray, Optional[np.ndarray],
                                                        Optional[np.ndarray], Optional[np.ndarray]]],
                        legend: Sequence[Tuple[str, Sequence[int]]] = ()) -> None:
    """One row per frame: input | colour mask | overlay | ground truth, and a legend of the classes shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    titles = ("input", "colour mask", "overlay", "ground truth")
    height, width = rows[0][1].shape[:2]
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * 3.2, len(rows) * 3.2 * height / width + 1.2),
                             squeeze=False)
    for r, (label, *images) in enumerate(rows):
        for c, image in enumerate(images):
            ax = axes[r][c]
            if image is None:
                ax.text(0.5, 0.5, "not received", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c])
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    handles = [Patch(facecolor=np.asarray(color) / 255.0, edgecolor="black", label=name)
               for name, color in legend]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 10), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_latency_histogram(path: str, end_to_end_ms: Sequence[float], node_ms: Sequence[float],
                            title: str) -> None:
    """End-to-end latency (play-bag publish -> labels received here) and the node's own, with p50/p95."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    data = [v for v in (end_to_end_ms, node_ms) if len(v)]
    bins = np.linspace(0, max(max(v) for v in data) * 1.05, 40) if data else 10
    if len(end_to_end_ms):
        ax.hist(end_to_end_ms, bins=bins, alpha=0.5, color="C0",
                label="end to end: play-bag publish -> labels received")
        for q, style in ((50, "-"), (95, "--")):
            ax.axvline(percentile(end_to_end_ms, q), color="C0", linestyle=style,
                       label="end to end p{} = {:.1f} ms".format(q, percentile(end_to_end_ms, q)))
    if len(node_ms):
        ax.hist(node_ms, bins=bins, histtype="step", linewidth=1.5, color="C1",
                label="in the node: input callback -> publish")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("frames")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summary_weights(weights: str) -> str:
    """A checkpoint path relative to here if it is a file, else the preset name."""
    if not os.path.isfile(weights):
        return weights
    relative = os.path.relpath(weights)
    return weights if relative.startswith("..") else relative


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def model_ready_line(path: str) -> str:
    """The node log's "model ready in ... s: <model and backend>; <why that backend>" line, from "model
    ready" on ("" where it is not there yet)."""
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if "model ready in" in line]
    except OSError:
        return ""
    return lines[-1][lines[-1].index("model ready in"):] if lines else ""


class DemoError(Exception):
    """A failure the demo reports as one message and an exit code (2: bad arguments, 1: a failed run)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class BagPlan:
    """The bag to play: its camera and ground-truth topics, header stamps and recorded rate."""

    def __init__(self, path: str, reused: bool) -> None:
        self.path = path
        self.reused = reused
        self.description = bags.synthetic_description(path) or {}
        self.image_topic = self.description.get("image_topic", bags.IMAGE_TOPIC)
        self.truth_topic = self.description.get("ground_truth_topic", bags.GROUND_TRUTH_TOPIC)
        counts = bags.topic_counts(path)
        if self.image_topic not in counts:
            message = "bag {} has no {} topic; it has {}".format(path, self.image_topic, sorted(counts))
            raise DemoError(message, 2)
        self.has_truth = self.truth_topic in counts
        self.stamps = bags.header_stamps(path, self.image_topic)
        self.rate = float(self.description.get("rate", RECORDED_RATE))
        picks = np.linspace(0, len(self.stamps) - 1, min(SHEET_ROWS, len(self.stamps))).round()
        self.sheet = [self.stamps[int(i)] for i in picks]

    def size(self) -> Optional[str]:
        """WIDTHxHEIGHT of a synthetic bag's frames (the node then warms up at that size), else None."""
        d = self.description
        return "{}x{}".format(d["width"], d["height"]) if d.get("width") else None


class Run:
    """What happened while the node answered the bag: the recorder and both processes' endings."""

    def __init__(self) -> None:
        self.recorder: Optional[OutputRecorder] = None
        self.node_code: Optional[int] = None  # exit code after our SIGINT; None if it had to be killed
        self.node_died: Optional[int] = None  # exit code if the node ended by itself before that
        self.stop_s = 0.0
        self.play_code: Optional[int] = None
        self.play_err = ""


@dataclass
class DemoSettings:
    """What to run: the ``swiftnet-ros demo`` flags."""

    weights: str = "demo"
    bag: Optional[str] = None
    frames: int = 40
    size: str = "512x256"
    seed: int = DEMO_SEED
    fps: float = RECORDED_RATE
    out: str = DEFAULT_OUT
    namespace: str = DEFAULT_NAMESPACE
    startup_timeout: float = 60.0
    domain_id: Optional[int] = None


class DemoOutcome:
    """summary.json's content, what happened to the processes, and where the node's log is."""

    def __init__(self, summary: Dict[str, Any], run: Run, node_log_path: str) -> None:
        self.summary = summary
        self.run = run
        self.node_log_path = node_log_path


def start_node(settings: DemoSettings, weights: str, plan: BagPlan, env: Dict[str, str],
               node_log: Any) -> Tuple[Any, Any, OutputRecorder]:
    """Start the node and this process's recorder; return (node process, recorder node, recorder).

    Discovery between two fresh processes can stall on a machine where other ROS processes were
    killed (Fast DDS leaves their shared-memory ports behind): then both start once more.
    """
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    namespace = "/" + settings.namespace.strip("/")
    image_topic = join_topic(namespace, "camera/image_raw")
    parameters = {"weights": weights, "device": "cpu", "backend": "auto", "input_qos": "reliable",
                  "output_qos": "reliable", "qos_depth": 100, "publish_color": True, "publish_overlay": True,
                  "diagnostics_period": 0.2}
    if plan.size():  # warm up at the bag's size at start-up, not on the first frame
        parameters["input_size"] = plan.size()
    for attempt in (1, 2):
        print("demo: starting segmentation_node ({}, CPU) ...".format(summary_weights(weights)))
        rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)  # Ctrl-C: KeyboardInterrupt
        command = node_command(namespace, parameters, remaps={"image": image_topic})
        node_proc = subprocess.Popen(command, env=env, stdout=node_log, stderr=subprocess.STDOUT)
        recorder_node = rclpy.create_node("swiftnet_demo_recorder")
        recorder = OutputRecorder(recorder_node, namespace, keep_images=plan.sheet)
        start = time.monotonic()
        try:
            ready = spin_until(recorder_node, functools.partial(recorder.node_ready, image_topic),
                               settings.startup_timeout, [node_proc])
        except BaseException:
            stop_process(node_proc)
            recorder_node.destroy_node()
            rclpy.try_shutdown()
            raise
        if ready:
            print("demo: node ready after {:.1f} s".format(time.monotonic() - start))
            chosen = model_ready_line(node_log.name)
            if chosen:
                print("demo: {}".format(chosen))  # which backend auto chose, and why
            return node_proc, recorder_node, recorder
        state = recorder.discovery_state(image_topic)
        died = node_proc.poll()
        code, _ = stop_process(node_proc)
        recorder_node.destroy_node()
        rclpy.try_shutdown()
        if died is not None or attempt == 2:
            node_log.flush()
            raise DemoError("the node did not get ready within {:g} s ({}; exit code {}); {}:\n{}".format(
                settings.startup_timeout, state, died if died is not None else code, node_log.name,
                _tail(node_log.name)))
        print("demo: the node and this recorder did not discover each other within {:g} s ({}); "
              "starting both again".format(settings.startup_timeout, state))
    raise AssertionError("not reached")


def play_and_record(settings: DemoSettings, weights: str, plan: BagPlan, env: Dict[str, str],
                    node_log_path: str, publish_log: str) -> Run:
    """Start the node, wait until it and this recorder see each other, play the bag, stop the node."""
    import rclpy
    from tqdm import tqdm

    frames = len(plan.stamps)
    result = Run()
    with open(node_log_path, "w") as node_log:
        node_proc, recorder_node, recorder = start_node(settings, weights, plan, env, node_log)
        result.recorder = recorder
        play_proc = None
        try:
            print("demo: playing {} frames at up to {:g} fps, each after the previous one's answer".format(
                frames, settings.fps))
            image_topic = join_topic(settings.namespace, "camera/image_raw")
            command = play_command(plan.path, plan.image_topic, image_topic, settings.fps / plan.rate,
                                   publish_log, answer_topic=recorder.topics[LABELS])
            play_proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         universal_newlines=True)
            with tqdm(total=frames, desc="demo", unit="frame") as bar:
                def done() -> bool:
                    count = recorder.answered(plan.stamps)
                    if count != bar.n:
                        bar.update(count - bar.n)
                    return count == frames

                spin_until(recorder_node, done, frames * 30.0 + 60.0, [play_proc, node_proc])
                if play_proc.poll() is not None and node_proc.poll() is None:
                    spin_until(recorder_node, done, 10.0, [node_proc])  # the last frames may be in the model
            # the node publishes colour and overlay after the labels and info: let the sheet's arrive
            spin_until(recorder_node, lambda: all(s in recorder.color and s in recorder.overlay
                                                  for s in plan.sheet if s in recorder.labels), 10.0)
            spin_until(recorder_node, lambda: False, 0.5)  # one more /diagnostics message
            _, result.play_err = play_proc.communicate(timeout=30)
            result.play_code = play_proc.returncode
            result.node_died = node_proc.poll()
            result.node_code, result.stop_s = stop_process(node_proc)
        finally:
            if play_proc is not None and play_proc.poll() is None:
                stop_process(play_proc)
            if node_proc.poll() is None:
                stop_process(node_proc)
            recorder_node.destroy_node()
            rclpy.try_shutdown()
    return result


def summarize(run: Run, plan: BagPlan, weights: str, publish_log: str, fps: float
              ) -> Tuple[Dict[str, Any], Dict[int, np.ndarray], List[float], List[float]]:
    """summary.json's content, the ground truth by stamp and the end-to-end / in-node latencies (ms)."""
    recorder = run.recorder
    truths = bags.read_ground_truth(plan.path, plan.truth_topic) if plan.has_truth else {}
    published_at = read_publish_log(publish_log)
    answered = [s for s in plan.stamps if s in recorder.labels]
    end_to_end = [(recorder.received_at[s] - published_at[s]) * 1000.0 for s in answered if s in published_at]
    infos = [recorder.info[s] for s in answered if s in recorder.info]
    node_ms = [float(i.total_ms) for i in infos]
    class_names = list(infos[-1].class_names) if infos else []
    scored = [s for s in answered if s in truths]
    miou, per_class = mean_iou([recorder.labels[s] for s in scored], [truths[s] for s in scored], class_names)

    def diagnostic(key: str) -> Optional[int]:
        try:
            return int(float(recorder.diagnostics[key]))
        except (KeyError, ValueError):
            return None

    summary = {
        "frames_published": len(plan.stamps),
        "frames_in": diagnostic("frames_received"),
        "frames_out": len(answered),
        "dropped": len(plan.stamps) - len(answered),
        "latency_ms_p50": percentile(end_to_end, 50),
        "latency_ms_p95": percentile(end_to_end, 95),
        "miou": miou,
        "node_dropped": diagnostic("frames_dropped"),
        "node_malformed": diagnostic("frames_malformed"),
        "node_latency_ms_p50": percentile(node_ms, 50),
        "node_latency_ms_p95": percentile(node_ms, 95),
        "inference_ms_p50": percentile([float(i.inference_ms) for i in infos], 50),
        "per_class_iou": per_class,
        "frames_scored": len(scored),
        "model": infos[-1].model if infos else None,
        "backend": infos[-1].backend if infos else None,
        "precision": infos[-1].precision if infos else None,
        "weights": summary_weights(weights),
        "bag": plan.path,
        "size": plan.size(),
        "playback_fps": played_fps(published_at),
        "playback_fps_max": fps,
        "node_exit_code": run.node_code,
        "node_stop_s": round(run.stop_s, 3),
    }
    return summary, truths, end_to_end, node_ms


def write_figures(out: str, run: Run, plan: BagPlan, truths: Dict[int, np.ndarray], end_to_end: List[float],
                  node_ms: List[float], title: str) -> None:
    from swiftnet_ros.data.labels import get_label_set
    from swiftnet_ros.infer.visualize import colorize

    labels = get_label_set("cityscapes")  # the synthetic scenes' ground truth is in Cityscapes trainIds
    frames = bags.read_frames(plan.path, plan.image_topic, None, stamps=plan.sheet)
    images = {f.stamp_ns: f.image for f in frames}
    rows = []
    shown = set()
    for s in plan.sheet:
        for ids in (run.recorder.labels.get(s), truths.get(s)):
            if ids is not None:
                shown.update(int(i) for i in np.unique(ids) if i < labels.num_classes)
        truth = colorize(truths[s], labels.palette) if s in truths else None
        rows.append(("t = {:.2f} s".format((s - plan.stamps[0]) / 1e9), images[s], run.recorder.color.get(s),
                     run.recorder.overlay.get(s), truth))
    legend = [(labels.class_names[i], labels.palette[i]) for i in sorted(shown)]
    write_contact_sheet(os.path.join(out, "contact_sheet.png"), rows, legend)
    write_latency_histogram(os.path.join(out, "latency_histogram.png"), end_to_end, node_ms, title)


def check_run(outcome: DemoOutcome) -> None:
    """Raise DemoError if the node failed, play-bag failed or a frame went unanswered."""
    summary, run, node_log_path = outcome.summary, outcome.run, outcome.node_log_path
    if run.node_died is not None or run.node_code != 0:
        code = run.node_died if run.node_died is not None else run.node_code
        raise DemoError("the node failed (exit code {}); last lines of {}:\n{}".format(
            "none: killed" if code is None else code, node_log_path, _tail(node_log_path)))
    if run.play_code != 0:
        raise DemoError("play-bag failed (exit code {}): {}".format(run.play_code, run.play_err.strip()))
    if summary["dropped"]:
        raise DemoError("{} of {} frames were not answered (the node dropped {}); see {}".format(
            summary["dropped"], summary["frames_published"], summary["node_dropped"], node_log_path))


def run_demo(settings: DemoSettings) -> DemoOutcome:
    """Run the demo; write summary.json, the contact sheet and the latency histogram to ``settings.out``.

    Raises DemoError (code 2) for bad settings before anything is written.
    """
    started = time.monotonic()
    from swiftnet_ros.ros.params import ConfigError, resolve_weights

    try:
        weights = resolve_weights(settings.weights)
    except (ConfigError, ValueError) as err:
        hint = " (it comes with the repository; or pass --weights)" if settings.weights == "demo" else ""
        raise DemoError("{}{}".format(err, hint), 2) from None
    try:
        size = bags.parse_size(settings.size)
        env = use_ros_env(settings.domain_id)
    except ValueError as err:
        raise DemoError(str(err), 2) from None
    if settings.frames < 1 or not (math.isfinite(settings.fps) and settings.fps > 0):
        raise DemoError("--frames {} / --fps {}: expected at least 1 frame and a positive rate".format(
            settings.frames, settings.fps), 2)
    if not (math.isfinite(settings.startup_timeout) and settings.startup_timeout > 0):
        raise DemoError("--startup-timeout {}: expected a positive number of seconds".format(
            settings.startup_timeout), 2)
    if os.path.exists(settings.out) and not os.path.isdir(settings.out):
        raise DemoError("--out {!r} is a file: expected a folder (created if missing)".format(
            settings.out), 2)
    plan = None
    if settings.bag:
        if not os.path.isdir(settings.bag):
            raise DemoError("--bag {}: no rosbag2 directory there".format(settings.bag), 2)
        try:
            plan = BagPlan(settings.bag, reused=True)
        except (ValueError, OSError, KeyError) as err:  # not a bag, or one without the camera topic
            raise DemoError("--bag {}: {}".format(settings.bag, err), 2) from None
    os.makedirs(settings.out, exist_ok=True)
    if plan is None:
        plan = BagPlan(*ensure_bag(settings.out, settings.frames, size, settings.seed))
    print("demo: bag {} ({} frames, {})".format(
        plan.path, len(plan.stamps), "cached" if plan.reused else "new"))
    node_log_path = os.path.join(settings.out, "node.log")
    publish_log = os.path.join(settings.out, "published.csv")
    if os.path.exists(publish_log):
        os.remove(publish_log)
    result = play_and_record(settings, weights, plan, env, node_log_path, publish_log)
    summary, truths, end_to_end, node_ms = summarize(result, plan, weights, publish_log, settings.fps)
    summary["wall_s"] = round(time.monotonic() - started, 1)
    with open(os.path.join(settings.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    title = "{} frames played at {:.1f} fps, {} on CPU".format(
        len(plan.stamps), summary["playback_fps"] or 0.0, summary["model"])
    write_figures(settings.out, result, plan, truths, end_to_end, node_ms, title)
    return DemoOutcome(summary, result, node_log_path)
