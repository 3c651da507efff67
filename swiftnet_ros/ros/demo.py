"""``swiftnet-ros demo`` (what ``make demo`` runs): the node on the bundled checkpoint over a synthetic bag.

It makes (or reuses) a synthetic rosbag2 with exact ground truth, starts ``segmentation_node`` as a
separate process on the CPU with reliable input QoS, plays the bag with ``play-bag`` (another
process) at a rate the CPU keeps up with, records every output here with rclpy, and writes to
``demo_out/``: a contact sheet (input | colour mask | overlay | ground truth), a latency histogram
and ``summary.json``. It exits non-zero if the node failed or any frame went unanswered.

Every process gets ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA``: without it Fast DDS loses large
images between processes (see the README).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from swiftnet_ros.ros import bags

DEFAULT_OUT = "demo_out"
DEFAULT_NAMESPACE = "/swiftnet_demo"
RECORDED_RATE = 10.0  # frames per second in the synthetic bag's header stamps
LABELS, COLOR, OVERLAY = "segmentation/labels", "segmentation/color", "segmentation/overlay"
INFO = "segmentation"
SHEET_ROWS = 4


def ros_environment() -> Dict[str, str]:
    """This process's environment with Fast DDS's large-data transports (set here too, before rclpy)."""
    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    return dict(os.environ)


def join_topic(namespace: str, name: str) -> str:
    return "/" + "/".join(part for part in (namespace.strip("/"), name.strip("/")) if part)


def node_command(namespace: str, image_topic: str, parameters: Dict[str, Any]) -> List[str]:
    """``segmentation_node`` as a separate Python process, in ``namespace``, reading ``image_topic``."""
    command = [sys.executable, "-m", "swiftnet_ros.ros.node", "--ros-args", "-r", "__ns:=" + namespace,
               "-r", "image:=" + image_topic]
    for name, value in parameters.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        command += ["-p", "{}:={}".format(name, text)]
    return command


def play_command(bag: str, bag_topic: str, topic: str, rate: float, publish_log: Optional[str] = None,
                 wait_timeout: float = 120.0) -> List[str]:
    """``swiftnet-ros play-bag`` of the camera topic only, reliable, after the node subscribed."""
    command = [sys.executable, "-m", "swiftnet_ros.cli", "play-bag", bag, "--topics", bag_topic,
               "--topic-remap", "{}:={}".format(bag_topic, topic), "--rate", repr(rate), "--qos", "reliable",
               "--depth", "100", "--wait-for-subscribers", "1", "--wait-timeout", repr(wait_timeout)]
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


def spin_until(node: Any, done: Any, timeout: float, processes: Sequence[Any] = ()) -> bool:
    """Spin ``node`` until ``done()`` or timeout; stop early (False) if a watched process exited."""
    import rclpy

    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            return bool(done())
        rclpy.spin_once(node, timeout_sec=0.05)
    return True


def stop_process(proc: Any, timeout: float = 10.0) -> Tuple[Optional[int], float]:
    """SIGINT (Ctrl-C), then wait; kill after ``timeout``. Returns (exit code or None if killed, seconds)."""
    start = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, time.monotonic() - start
    return proc.returncode, time.monotonic() - start


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


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


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
                                                        Optional[np.ndarray], Optional[np.ndarray]]]) -> None:
    """One row per frame: input | colour mask | overlay | ground truth (colours), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ("input", "colour mask", "overlay", "ground truth")
    height, width = rows[0][1].shape[:2]
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * 3.2, len(rows) * 3.2 * height / width + 0.6),
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
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_latency_histogram(path: str, end_to_end_ms: Sequence[float], node_ms: Sequence[float],
                            title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    data = [v for v in (end_to_end_ms, node_ms) if len(v)]
    bins = np.linspace(0, max(max(v) for v in data) * 1.05, 40) if data else 10
    if len(end_to_end_ms):
        ax.hist(end_to_end_ms, bins=bins, alpha=0.7, label="end to end: play-bag publish -> labels received")
        for q, style in ((50, "-"), (95, "--")):
            ax.axvline(percentile(end_to_end_ms, q), color="C0", linestyle=style,
                       label="end to end p{} = {:.1f} ms".format(q, percentile(end_to_end_ms, q)))
    if len(node_ms):
        ax.hist(node_ms, bins=bins, alpha=0.7, label="in the node: input callback -> publish")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("frames")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summary_weights(weights: str) -> str:
    """A checkpoint path relative to here if it is a file, else the preset name."""
    return os.path.relpath(weights) if os.path.isfile(weights) else weights


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default="demo",
                        help="weights for the node (default 'demo': the bundled demo/swiftnet_demo.pt)")
    parser.add_argument("--bag", help="play this rosbag2 instead of the cached synthetic one")
    parser.add_argument("--frames", type=int, default=40, help="frames of the synthetic bag (default 40)")
    parser.add_argument("--size", default="512x256", metavar="WxH",
                        help="synthetic frame size (default 512x256)")
    parser.add_argument("--seed", type=int, default=1000,
                        help="first scene seed (default 1000, scenes the demo checkpoint was not trained on)")
    parser.add_argument("--fps", type=float, default=4.0,
                        help="playback frames per second, low enough for the CPU to answer every frame "
                             "(default 4)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default demo_out)")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the node and its topics")
    parser.add_argument("--startup-timeout", type=float, default=120.0,
                        help="seconds to wait for the node to load the model and subscribe (default 120)")


def run(args: argparse.Namespace) -> int:
    def fail(message: str, code: int = 1) -> int:
        print("demo: error: " + message, file=sys.stderr)
        return code

    started = time.monotonic()
    env = ros_environment()
    from swiftnet_ros.ros.params import ConfigError, resolve_weights

    try:
        weights = resolve_weights(args.weights)
        size = bags.parse_size(args.size)
    except (ConfigError, ValueError) as err:
        hint = " (the training issue's demo checkpoint; or pass --weights)" if args.weights == "demo" else ""
        return fail("{}{}".format(err, hint), 2)
    if args.frames < 1 or not args.fps > 0:
        return fail("--frames {} / --fps {}: expected at least 1 frame and a positive rate".format(
            args.frames, args.fps), 2)
    os.makedirs(args.out, exist_ok=True)

    if args.bag:
        bag, reused = args.bag, True
        if not os.path.isdir(bag):
            return fail("--bag {}: no rosbag2 directory there".format(bag), 2)
    else:
        bag, reused = ensure_bag(args.out, args.frames, size, args.seed)
    description = bags.synthetic_description(bag) or {}
    bag_topic = description.get("image_topic", bags.IMAGE_TOPIC)
    truth_topic = description.get("ground_truth_topic", bags.GROUND_TRUTH_TOPIC)
    counts = bags.topic_counts(bag)
    if bag_topic not in counts:
        return fail("bag {} has no {} topic; it has {}".format(bag, bag_topic, sorted(counts)), 2)
    stamps = bags.header_stamps(bag, bag_topic)
    frames = len(stamps)
    recorded_rate = description.get("rate", RECORDED_RATE)
    sheet = [stamps[int(i)] for i in np.linspace(0, frames - 1, min(SHEET_ROWS, frames)).round()]
    print("demo: bag {} ({} frames, {})".format(bag, frames, "cached" if reused else "new"))

    import rclpy

    namespace = "/" + args.namespace.strip("/")
    image_topic = join_topic(namespace, "camera/image_raw")
    parameters = {"weights": weights, "device": "cpu", "backend": "torch", "input_qos": "reliable",
                  "output_qos": "reliable", "qos_depth": 100, "publish_color": True, "publish_overlay": True,
                  "diagnostics_period": 0.2}
    if description.get("width"):  # warm up at the bag's size at start-up, not on the first frame
        parameters["input_size"] = "{}x{}".format(description["width"], description["height"])
    node_log_path = os.path.join(args.out, "node.log")
    publish_log = os.path.join(args.out, "published.csv")
    if os.path.exists(publish_log):
        os.remove(publish_log)
    rclpy.init(args=[])
    node_log = open(node_log_path, "w")
    node_proc = subprocess.Popen(node_command(namespace, image_topic, parameters), env=env,
                                 stdout=node_log, stderr=subprocess.STDOUT)
    play_proc = None
    recorder_node = rclpy.create_node("swiftnet_demo_recorder")
    try:
        recorder = OutputRecorder(recorder_node, namespace, keep_images=sheet)
        print("demo: starting segmentation_node ({}, CPU) ...".format(summary_weights(weights)))
        if not spin_until(recorder_node, lambda: recorder.node_ready(image_topic), args.startup_timeout,
                          [node_proc]):
            state = recorder.discovery_state(image_topic)
            code, _ = stop_process(node_proc)
            return fail("the node did not get ready within {:g} s ({}; exit code {}); last lines of {}:\n{}"
                        .format(args.startup_timeout, state, "none: killed" if code is None else code,
                                node_log_path, _tail(node_log_path)))
        print("demo: node ready after {:.1f} s; playing at {:g} fps".format(
            time.monotonic() - started, args.fps))
        play_proc = subprocess.Popen(play_command(bag, bag_topic, image_topic, args.fps / recorded_rate,
                                                  publish_log), env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, universal_newlines=True)
        from tqdm import tqdm

        with tqdm(total=frames, desc="demo", unit="frame") as bar:
            def done() -> bool:
                count = recorder.answered(stamps)
                if count != bar.n:
                    bar.update(count - bar.n)
                return count == frames

            spin_until(recorder_node, done, frames / args.fps + 60.0, [play_proc, node_proc])
            if play_proc.poll() is not None and node_proc.poll() is None:
                # the last frames are still in the model: allow a few seconds more
                spin_until(recorder_node, done, 10.0, [node_proc])
        spin_until(recorder_node, lambda: False, 0.5)  # a last /diagnostics message
        play_out, play_err = play_proc.communicate(timeout=30)
        node_alive = node_proc.poll() is None
        node_code, stop_s = stop_process(node_proc)
    finally:
        if play_proc is not None and play_proc.poll() is None:
            stop_process(play_proc)
        if node_proc.poll() is None:
            stop_process(node_proc)
        node_log.close()
        recorder_node.destroy_node()
        rclpy.try_shutdown()

    # --- results ---
    truths = bags.read_ground_truth(bag, truth_topic) if truth_topic in counts else {}
    frames_bag = {f.stamp_ns: f for f in bags.read_frames(bag, bag_topic, None, stamps=sheet)}
    published_at = read_publish_log(publish_log)
    answered = [s for s in stamps if s in recorder.labels]
    end_to_end = [(recorder.received_at[s] - published_at[s]) * 1000.0 for s in answered if s in published_at]
    node_ms = [float(recorder.info[s].total_ms) for s in answered if s in recorder.info]
    inference_ms = [float(recorder.info[s].inference_ms) for s in answered if s in recorder.info]
    last_info = recorder.info[answered[-1]] if answered and answered[-1] in recorder.info else None
    class_names = list(last_info.class_names) if last_info is not None else []
    scored = [s for s in answered if s in truths]
    miou, per_class = mean_iou([recorder.labels[s] for s in scored], [truths[s] for s in scored], class_names)
    diag = recorder.diagnostics

    def diag_int(key: str) -> Optional[int]:
        try:
            return int(float(diag[key]))
        except (KeyError, ValueError):
            return None

    frames_out = len(answered)
    summary = {
        "frames_published": frames,
        "frames_in": diag_int("frames_received"),
        "frames_out": frames_out,
        "dropped": frames - frames_out,
        "latency_ms_p50": percentile(end_to_end, 50),
        "latency_ms_p95": percentile(end_to_end, 95),
        "miou": miou,
        "node_dropped": diag_int("frames_dropped"),
        "node_malformed": diag_int("frames_malformed"),
        "node_latency_ms_p50": percentile(node_ms, 50),
        "node_latency_ms_p95": percentile(node_ms, 95),
        "inference_ms_p50": percentile(inference_ms, 50),
        "per_class_iou": per_class,
        "frames_scored": len(scored),
        "model": last_info.model if last_info is not None else None,
        "backend": last_info.backend if last_info is not None else None,
        "precision": last_info.precision if last_info is not None else None,
        "weights": summary_weights(weights),
        "bag": bag,
        "size": [description.get("width"), description.get("height")],
        "playback_fps": args.fps,
        "node_exit_code": node_code,
        "node_stop_s": round(stop_s, 3),
        "wall_s": round(time.monotonic() - started, 1),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)

    from swiftnet_ros.data.labels import get_label_set
    from swiftnet_ros.infer.visualize import colorize

    palette = get_label_set("cityscapes").palette
    rows = []
    for s in sheet:
        truth = colorize(truths[s], palette) if s in truths else None
        rows.append(("t = {:.2f} s".format((s - stamps[0]) / 1e9), frames_bag[s].image, recorder.color.get(s),
                     recorder.overlay.get(s), truth))
    write_contact_sheet(os.path.join(args.out, "contact_sheet.png"), rows)
    write_latency_histogram(os.path.join(args.out, "latency_histogram.png"), end_to_end, node_ms,
                            "{} frames at {:g} fps, {} on CPU".format(frames, args.fps, summary["model"]))

    def ms(value: Optional[float]) -> str:
        return "n/a" if value is None else "{:.1f} ms".format(value)

    print("demo: frames published {}, in {}, out {}, dropped {}".format(
        frames, summary["frames_in"], frames_out, summary["dropped"]))
    print("demo: latency end to end p50 {} p95 {}; in the node p50 {} p95 {}; inference p50 {}".format(
        ms(summary["latency_ms_p50"]), ms(summary["latency_ms_p95"]), ms(summary["node_latency_ms_p50"]),
        ms(summary["node_latency_ms_p95"]), ms(summary["inference_ms_p50"])))
    print("demo: mIoU against the synthetic ground truth {} over {} frames".format(
        "n/a" if miou is None else "{:.1%}".format(miou), len(scored)))
    print("demo: wrote {}/summary.json, contact_sheet.png, latency_histogram.png in {:.0f} s".format(
        args.out, summary["wall_s"]))

    if not node_alive or node_code != 0:
        return fail("the node failed (exit code {}); last lines of {}:\n{}".format(
            node_code if node_alive else node_proc.returncode, node_log_path, _tail(node_log_path)))
    if play_proc.returncode != 0:
        return fail("play-bag failed (exit code {}): {}".format(play_proc.returncode, play_err.strip()))
    if frames_out != frames:
        return fail("{} of {} frames were not answered (the node dropped {}); try a lower --fps".format(
            frames - frames_out, frames, summary["node_dropped"]))
    return 0
