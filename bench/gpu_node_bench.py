"""segmentation_node on the GPU over real DDS, fed by ``swiftnet-ros play-bag`` (issue 16): one prepared run.

    PYTHONPATH=. python3 bench/gpu_node_bench.py --out "$OUT" --weights runs/gpu/rn18/best.pt   # GPU machine
    python bench/gpu_node_bench.py --smoke --out /tmp/node_smoke       # the same code paths on a CPU, seconds

Per size (synthetic rgb8 bags, 2048x1024 and 1024x512), one node process (device cuda, precision fp16, the
backend's CUDA defaults; FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA for every process) and four runs, the
node's colour and overlay switched by parameter (off: labels + SegmentationInfo; on: + colour + overlay,
which this process subscribes to):

- paced by answers (play-bag --answer-topic .../segmentation/labels --max-in-flight 1): answered FPS,
  end-to-end latency p50 / p95 (the player's wall clock just before publishing -> the labels' arrival
  here), and the node's overhead over ``Segmenter`` end to end (host image -> host labels) for the same
  frames, timed in this process before the node starts;
- a camera at twice the paced answered rate (play-bag --rate): answered FPS, frames dropped by the node
  (its one-frame slot), p95 latency over the median inference (SegmentationInfo.inference_ms) and over
  the paced median latency.

Then the node's labels (fp16) against CPU fp32 labels of the same frames (share of equal pixels; the
issue asks >= 99.5% with trained weights). Writes gpu_node.json ("kind": "node") after every run, so a
run cut short keeps what it measured, and the node's and players' logs to gpu_node_logs.txt.
"""

import argparse
import bisect
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from swiftnet_ros.files import write_json_atomic  # noqa: E402
from swiftnet_ros.sizes import parse_size  # noqa: E402
from swiftnet_ros.stats import percentile  # noqa: E402
from swiftnet_ros.tools import bags, processes  # noqa: E402
from swiftnet_ros.tools.processes import NodeProcess, join_topic, stop_process, unique_namespace  # noqa: E402

OUTPUT_TOPICS = {"labels": "segmentation/labels", "color": "segmentation/color",
                 "overlay": "segmentation/overlay", "info": "segmentation"}
OUTPUT_MODES = {"off": {"publish_color": False, "publish_overlay": False},
                "on": {"publish_color": True, "publish_overlay": True}}
BAG_RATE = 10.0  # Hz of the bags' header stamps; play-bag --rate scales it


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for gpu_node.json and gpu_node_logs.txt")
    parser.add_argument("--weights", default="rn18", help="checkpoint (trained weights) or preset name")
    parser.add_argument("--sizes", default="2048x1024,1024x512", help="WxH list (bag and model size)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="fp16")
    parser.add_argument("--frames", type=int, default=40, help="frames per bag (played in a loop)")
    parser.add_argument("--scenes", type=int, default=6, help="distinct synthetic scenes among the frames")
    parser.add_argument("--answers", type=int, default=300, help="answered frames measured per run")
    parser.add_argument("--skip", type=int, default=20, help="answers per run not measured (start-up)")
    parser.add_argument("--segmenter-runs", type=int, default=200, help="timed Segmenter calls per size")
    parser.add_argument("--agreement-frames", type=int, default=3, help="frames compared with CPU fp32")
    parser.add_argument("--cpu-threads", type=int, default=0, help="the node's cpu_threads parameter")
    parser.add_argument("--ready-timeout", type=float, default=150.0,
                        help="seconds for the node to load and warm up (torch.compile, CUDA graph)")
    parser.add_argument("--run-timeout", type=float, default=30.0, help="seconds per run at most")
    parser.add_argument("--budget-s", type=float, default=180.0, help="start no new size after this")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU check of every code path: device cpu, fp32, one tiny size, few frames")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.precision, args.sizes, args.frames, args.scenes = "cpu", "fp32", "128x64", 12, 3
        args.answers, args.skip, args.segmenter_runs, args.agreement_frames = 12, 3, 5, 2
        args.cpu_threads, args.ready_timeout = 1, 90.0
    return args


# ---------------------------------------------------------------------------- figures
def latencies_ms(published: Dict[int, List[float]], arrivals: Sequence[Tuple[int, float]]) -> List[float]:
    """Per answer: its arrival minus the latest publication of its header stamp before it (the bags loop,
    so a stamp is published again every loop)."""
    out = []
    for stamp, arrived in arrivals:
        times = published.get(stamp, [])
        i = bisect.bisect_right(times, arrived)
        if i:
            out.append((arrived - times[i - 1]) * 1e3)
    return out


def read_publish_log(path: str) -> Dict[int, List[float]]:
    """play-bag --publish-log: header stamp -> sorted wall times (s) at which it was published."""
    published = {}  # type: Dict[int, List[float]]
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) == 4 and parts[2].lstrip("-").isdigit():
                    published.setdefault(int(parts[2]), []).append(int(parts[3]) / 1e9)
    for times in published.values():
        times.sort()
    return published


def summary(values: Sequence[float], prefix: str) -> Dict[str, Optional[float]]:
    return {prefix + "_p50": _round(percentile(values, 50)), prefix + "_p95": _round(percentile(values, 95)),
            prefix + "_max": _round(max(values) if values else None)}


def _round(value: Optional[float], digits: int = 3) -> Optional[float]:
    return None if value is None else round(float(value), digits)


# ---------------------------------------------------------------------------- ROS side
class Collector:
    """The node's outputs as they arrive in this process, raw (big images are not decoded), by stamp."""

    def __init__(self, namespace: str, keep: Sequence[int]) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from swiftnet_ros.msg import SegmentationInfo

        self.node = rclpy.create_node("gpu_node_bench")
        self.namespace = namespace
        self.keep = set(keep)
        self.kept = {}  # type: Dict[int, bytes]  # raw labels of the frames compared with CPU fp32
        self.arrivals = {kind: [] for kind in OUTPUT_TOPICS}  # type: Dict[str, List[Tuple[int, float]]]
        self.infos = []  # type: List[Tuple[int, float, float, int]]  # stamp, inference_ms, total_ms, dropped
        qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        for kind, topic in OUTPUT_TOPICS.items():
            cls = SegmentationInfo if kind == "info" else Image
            self.node.create_subscription(cls, join_topic(namespace, topic), self._callback(kind), qos,
                                          raw=True)
        self._info_cls = SegmentationInfo
        self.diagnostics = []  # type: List[Dict[str, str]]  # the node's /diagnostics values, in order
        from diagnostic_msgs.msg import DiagnosticArray

        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith(self.namespace + "/"):
                self.diagnostics.append({kv.key: kv.value for kv in status.values})

    def fresh_diagnostics(self, timeout: float = 3.0) -> Dict[str, float]:
        """The node's next /diagnostics (p50 / p95 per stage over its last 500 frames), as numbers."""
        count = len(self.diagnostics)
        deadline = time.monotonic() + timeout
        while len(self.diagnostics) == count and time.monotonic() < deadline:
            self.spin_for(0.05)
        if len(self.diagnostics) == count:
            return {}
        values = self.diagnostics[-1]
        return {k: float(v) for k, v in values.items() if k.endswith(("_p50", "_p95")) and
                k.split("_ms_")[0] in ("conversion", "inference", "colorize", "publish", "overhead")}

    def _callback(self, kind: str) -> Any:
        def on_message(data: bytes) -> None:
            now = time.time()
            stamp = bags.header_stamp_ns(data)
            self.arrivals[kind].append((stamp, now))
            if kind == "labels" and stamp in self.keep and stamp not in self.kept:
                self.kept[stamp] = data
            elif kind == "info":
                from rclpy.serialization import deserialize_message

                info = deserialize_message(data, self._info_cls)
                self.infos.append((stamp, info.inference_ms, info.total_ms, info.dropped_frames))
        return on_message

    def spin_for(self, seconds: float) -> None:
        import rclpy

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.01)

    def wait_connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        topics = [join_topic(self.namespace, t) for t in OUTPUT_TOPICS.values()]
        while not all(self.node.count_publishers(t) > 0 for t in topics):
            if time.monotonic() > deadline:
                raise TimeoutError("the node's outputs under {} did not appear in {} s".format(
                    self.namespace, timeout))
            self.spin_for(0.05)

    def set_parameters(self, values: Dict[str, Any], timeout: float = 10.0) -> None:
        """Set the node's run-time parameters through its parameter service."""
        import rclpy
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, join_topic(self.namespace,
                                                                   "segmentation_node/set_parameters"))
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError("no parameter service of the node under {}".format(self.namespace))
            request = SetParameters.Request(
                parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
            future = client.call_async(request)
            rclpy.spin_until_future_complete(self.node, future, timeout_sec=timeout)
            if not future.done() or not all(r.successful for r in future.result().results):
                raise RuntimeError("the node refused parameters {}: {}".format(
                    values, None if not future.done() else [r.reason for r in future.result().results]))
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.node.destroy_node()


def player_command(bag: str, namespace: str, rate: float, log_path: str, gated: bool) -> List[str]:
    """``swiftnet-ros play-bag`` looping the bag's images into the node's ``image`` (best effort, as a
    camera driver's sensor-data publisher); gated: one frame in flight, the next after its labels."""
    command = [sys.executable, "-m", "swiftnet_ros.commands.main", "play-bag", bag,
               "--topics", bags.IMAGE_TOPIC,
               "--topic-remap", "{}:={}".format(bags.IMAGE_TOPIC, join_topic(namespace, "image")),
               "--loop", "--rate", repr(rate), "--qos", "best_effort", "--publish-log", log_path,
               "--wait-for-subscribers", "1", "--wait-timeout", "60"]
    if gated:
        command += ["--answer-topic", join_topic(namespace, "segmentation/labels"), "--max-in-flight", "1",
                    "--answer-timeout", "2"]
    return command


def measured_run(collector: Collector, command: List[str], log_path: str, args: argparse.Namespace,
                 logs: List[str]) -> Dict[str, Any]:
    """Play until ``args.answers`` labels arrived after ``args.skip`` (or the run timeout); the figures."""
    first = {kind: len(v) for kind, v in collector.arrivals.items()}
    info_first = len(collector.infos)
    player_log = tempfile.NamedTemporaryFile(prefix="play_bag_", suffix=".log", delete=False)
    proc = subprocess.Popen(command, stdout=player_log, stderr=subprocess.STDOUT, env=processes.ros_env())
    deadline = time.monotonic() + args.run_timeout
    want = args.skip + args.answers
    try:
        while len(collector.arrivals["labels"]) - first["labels"] < want and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            collector.spin_for(0.05)
    finally:
        stop_process(proc, timeout=5.0)
        player_log.close()
        collector.spin_for(0.2)  # answers still on their way
        with open(player_log.name, errors="replace") as f:
            logs.append("---- play-bag {}\n{}".format(" ".join(command[3:]), f.read()))
        os.unlink(player_log.name)
    labels = collector.arrivals["labels"][first["labels"]:][args.skip:want]
    if len(labels) < 2:
        raise RuntimeError("only {} labels answered in {:.0f} s (player exit {})".format(
            len(labels), args.run_timeout, proc.returncode))
    start, end = labels[0][1], labels[-1][1]
    published = read_publish_log(log_path)
    os.unlink(log_path)
    latency = latencies_ms(published, labels)
    stamps = {s for s, _ in labels}
    infos = [i for i in collector.infos[info_first:] if i[0] in stamps]
    in_window = sum(1 for times in published.values() for t in times if start <= t <= end)
    result = {
        "answers": len(labels), "seconds": round(end - start, 3),
        "answered_fps": round((len(labels) - 1) / (end - start), 2) if end > start else None,
        "published_in_window": in_window,
        "camera_hz": round(in_window / (end - start), 2) if end > start else None,
        "inference_ms_p50": _round(percentile([i[1] for i in infos], 50)),
        "node_total_ms_p50": _round(percentile([i[2] for i in infos], 50)),
        "dropped_by_node": int(infos[-1][3] - infos[0][3]) if infos else None,
    }
    result.update(summary(latency, "latency_ms"))
    for kind in ("color", "overlay"):
        result[kind + "_received"] = len(collector.arrivals[kind]) - first[kind]
    # where the node's own time goes (ms): its /diagnostics, p50 / p95 over its last 500 frames
    result["node_stages_ms"] = collector.fresh_diagnostics()
    return result


# ---------------------------------------------------------------------------- one size
def write_bag(path: str, frames: int, scenes: int, size: Tuple[int, int]) -> None:
    """``frames`` rgb8 frames cycling through ``scenes`` synthetic scenes (a 2048x1024 scene takes a second
    to draw), each frame with its own header stamp, so that an answer names the publication it answers."""
    from swiftnet_ros.data.synthetic import make_scene

    drawn = [(make_scene(2000 + i, size)[0], None) for i in range(min(scenes, frames))]
    bags.write_image_bag(path, itertools.islice(itertools.cycle(drawn), frames), rate=BAG_RATE)


def build_segmenter(weights: str, size: Tuple[int, int], args: argparse.Namespace) -> Tuple[Any, float]:
    """A Segmenter on the node's settings (backend defaults; warm-up compiles and captures): (it, seconds)."""
    from swiftnet_ros.infer import Segmenter

    start = time.perf_counter()
    segmenter = Segmenter(weights, device=args.device, precision=args.precision, input_size=size, warmup=2)
    return segmenter, time.perf_counter() - start


def time_segmenter(segmenter: Any, build_s: float, images: List[np.ndarray], runs: int) -> Dict[str, Any]:
    """Segmenter end to end (host uint8 image -> host labels) on the bag's frames, in turn."""
    times, stages = [], []
    for i in range(runs):
        t0 = time.perf_counter()
        result = segmenter.segment(images[i % len(images)])
        times.append((time.perf_counter() - t0) * 1e3)
        stages.append(result.timings)
    figures = {"describe": segmenter.describe(), "build_and_warmup_s": round(build_s, 2), "runs": len(times)}
    figures.update(summary(times, "e2e_ms"))
    figures["e2e_fps"] = _round(1e3 / np.median(times), 1)
    figures["stages_ms_p50"] = {k: _round(np.median([s[k] for s in stages])) for k in stages[0]}
    return figures


def reference_labels(weights: str, images: List[np.ndarray], size: Tuple[int, int]) -> List[np.ndarray]:
    """CPU fp32 labels (no fp16, no CUDA) of the compared frames."""
    from swiftnet_ros.infer import Segmenter

    segmenter = Segmenter(weights, device="cpu", precision="fp32", input_size=size, warmup=0)
    return [segmenter.segment(image).labels for image in images]


def bench_size(size_text: str, args: argparse.Namespace, report: Dict[str, Any], logs: List[str],
               write: Any, work: str) -> None:
    """The node first (it compiles for tens of seconds), and meanwhile the bag, the CPU reference and this
    process's Segmenter; the Segmenter is timed while the node is ready but idle, then the node's runs."""
    import torch
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    size = parse_size(size_text)
    t0 = time.monotonic()
    namespace = unique_namespace("gpu")
    params = dict(weights=args.weights, device=args.device, precision=args.precision, input_size=size_text,
                  warmup=2, cpu_threads=args.cpu_threads, diagnostics_period=0.5, **OUTPUT_MODES["off"])
    node = NodeProcess(namespace, params, env=processes.ros_env())
    collector = None
    bag = os.path.join(work, "synthetic_{}".format(size_text))
    try:
        write_bag(bag, args.frames, args.scenes, size)
        frames = bags.read_frames(bag, ground_truth_topic=None)
        compared = frames[:args.agreement_frames]
        reference = reference_labels(args.weights, [f.image for f in compared], size)
        segmenter, build_s = build_segmenter(args.weights, size, args)
        print("{}: bag, CPU fp32 reference of {} frames, Segmenter built ({:.0f} s)".format(
            size_text, len(compared), time.monotonic() - t0), flush=True)
        node.wait_ready(timeout=max(1.0, args.ready_timeout - (time.monotonic() - t0)))
        ready = re.search(r"model ready in ([0-9.]+) s", node.output())
        figures = time_segmenter(segmenter, build_s, [f.image for f in frames], args.segmenter_runs)
        del segmenter
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        report["segmenter"].append(dict(figures, size=size_text))
        segmenter_p50 = figures["e2e_ms_p50"]
        write()
        collector = Collector(namespace, [f.stamp_ns for f in compared])
        collector.wait_connected(timeout=30)
        base = {"kind": "node", "size": size_text, "weights": args.weights, "device": args.device,
                "precision": args.precision, "node_ready_s": round(time.monotonic() - t0, 1),
                "node_model_ready_s": float(ready.group(1)) if ready else None,
                "segmenter_e2e_ms_p50": segmenter_p50}
        paced = {}  # type: Dict[str, Dict[str, Any]]
        for run, outputs in (("paced", "off"), ("paced", "on"), ("camera_2x", "off"), ("camera_2x", "on")):
            log_path = os.path.join(work, "publish_{}_{}_{}.csv".format(size_text, run, outputs))
            try:
                collector.set_parameters(OUTPUT_MODES[outputs])
                if run == "paced":
                    target = None
                    command = player_command(bag, namespace, 1000.0, log_path, gated=True)
                else:
                    target = 2.0 * paced[outputs]["answered_fps"]
                    command = player_command(bag, namespace, target / BAG_RATE, log_path, gated=False)
                figures = measured_run(collector, command, log_path, args, logs)
            except Exception as error:  # noqa: BLE001 - one failed run is a result; the others still run
                traceback.print_exc()
                report["skipped"].append({"size": size_text, "run": run, "outputs": outputs,
                                          "error": repr(error)[:300]})
                write()
                continue
            row = dict(base, run=run, outputs="labels+info" if outputs == "off" else
                       "labels+info+color+overlay", **figures)
            if run == "paced":
                paced[outputs] = row
                row["node_overhead_ms_p50"] = _round(row["latency_ms_p50"] - segmenter_p50)
            else:
                row["camera_hz_target"] = round(target, 2)
                row["camera_basis"] = "2 x the paced answered_fps (outputs {})".format(outputs)
                inference = row["inference_ms_p50"]
                row["p95_over_median_inference"] = _round(row["latency_ms_p95"] / inference) \
                    if inference else None
                row["p95_over_paced_p50"] = _round(row["latency_ms_p95"] / paced[outputs]["latency_ms_p50"])
            report["results"].append(row)
            print("{} {} outputs {}: {} answered fps, latency p50 {} / p95 {} ms{}".format(
                size_text, run, outputs, row["answered_fps"], row["latency_ms_p50"], row["latency_ms_p95"],
                "" if run == "paced" else ", camera {} Hz, {} dropped".format(row["camera_hz"],
                                                                          row["dropped_by_node"])),
                flush=True)
            write()
        agreement = []
        for frame, ref in zip(compared, reference):
            data = collector.kept.get(frame.stamp_ns)
            if data is not None:
                labels = bags.labels_to_array(deserialize_message(data, Image))
                agreement.append(float((labels == ref).mean()) if labels.shape == ref.shape else 0.0)
        report["agreement"].append({
            "size": size_text, "node": "{} {}".format(args.device, args.precision), "reference": "cpu fp32",
            "weights": args.weights, "frames": len(agreement),
            "min": _round(min(agreement), 6) if agreement else None,
            "mean": _round(np.mean(agreement), 6) if agreement else None,
            "met": bool(agreement) and min(agreement) >= 0.995})
        write()
    finally:
        if collector is not None:
            collector.close()
        logs.append("---- segmentation_node {}\n{}".format(size_text, node.output()))
        node.close()
        shutil.rmtree(bag, ignore_errors=True)


def table(report: Dict[str, Any]) -> str:
    """The runs of a gpu_node.json as a short text table (printed last: the reply carries the end)."""
    columns = ("size", "run", "outputs", "answered_fps", "camera_hz", "latency_ms_p50", "latency_ms_p95",
               "inference_ms_p50", "node_overhead_ms_p50", "dropped_by_node")
    rows = [columns] + [tuple("-" if r.get(c) is None else str(r.get(c)) for c in columns)
                        for r in report["results"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    for a in report["agreement"]:
        lines.append("agreement {} {} vs {}: min {} over {} frames (>= 0.995: {})".format(
            a["size"], a["node"], a["reference"], a["min"], a["frames"], a["met"]))
    lines += ["skipped: {}".format(s) for s in report["skipped"]]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import rclpy
    import torch

    from swiftnet_ros.tools.benchmark import machine_info

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_node_bench: error: --device {} but CUDA is not available (use --smoke on a CPU)"
              .format(args.device), file=sys.stderr)
        return 2
    if args.cpu_threads:  # this process's Segmenter on as many CPU threads as the node's model
        torch.set_num_threads(args.cpu_threads)
    os.makedirs(args.out, exist_ok=True)
    start = time.monotonic()
    processes.isolate()  # a DDS domain of our own, shared with the node and the players; LARGE_DATA
    rclpy.init()
    report = {"kind": "node", "command": "bench/gpu_node_bench.py " + " ".join(
        argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(torch.device(args.device), torch.get_num_threads()),
        "latency": "play-bag's wall clock just before publishing -> segmentation/labels arriving here "
                   "(same host clock); answered_fps over the measured answers",
        "transport": "FASTDDS_BUILTIN_TRANSPORTS=" + os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", ""),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": [], "segmenter": [], "agreement": [], "skipped": []}  # type: Dict[str, Any]
    path = os.path.join(args.out, "gpu_node.json")
    logs = []  # type: List[str]

    def write() -> None:
        report["elapsed_s"] = round(time.monotonic() - start, 1)
        write_json_atomic(path, report)
        with open(os.path.join(args.out, "gpu_node_logs.txt"), "w") as f:
            f.write("\n".join(logs))

    write()
    with tempfile.TemporaryDirectory(prefix="gpu_node_bench_") as work:
        for size_text in args.sizes.split(","):
            if time.monotonic() - start > args.budget_s:
                report["skipped"].append({"size": size_text, "error": "time budget"})
                continue
            try:
                bench_size(size_text, args, report, logs, write, work)
            except Exception as error:  # noqa: BLE001 - one size failing must not lose the other
                traceback.print_exc()
                report["skipped"].append({"size": size_text, "error": repr(error)[:300]})
            write()
    rclpy.try_shutdown()
    write()
    print(table(report))
    print("wrote {} ({} runs, {} skipped, {:.0f} s)".format(
        path, len(report["results"]), len(report["skipped"]), report["elapsed_s"]))
    bad = [a for a in report["agreement"] if not a["met"]]
    return 0 if report["results"] and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
