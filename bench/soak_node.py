"""Soak: 2000 frames through segmentation_node; memory, threads and file handles must not grow.

The node runs as a separate process (real rclpy, Fast DDS with LARGE_DATA) with every output
published (labels, colour, overlay, summary) and a malformed frame every 10th message. Frames go
lock-step (each after the previous answer, reliable QoS) so that every one is processed. The
node's RSS, thread count and open file descriptors are sampled from /proc every 100 frames.
Target: RSS growth < 5% from the end of warm-up (frame 200) to the end; threads and descriptors
the same. Writes bench/results/soak.json and soak.png.

    .venv/bin/python bench/soak_node.py [--frames 2000] [--size 512x256]
"""

import argparse
import json
import os
import sys
from typing import List, Optional

import numpy as np
import rclpy
from tqdm import tqdm

from swiftnet_ros.tools import processes
from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields
from swiftnet_ros.tools.node_client import RosClient, sample_image
from swiftnet_ros.tools.processes import NodeProcess, process_figures, unique_namespace

HERE = os.path.dirname(os.path.abspath(__file__))

RESULTS = os.path.join(HERE, "results")
WARMUP = 200
EVERY = 100


def plot(path: str, samples: List[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [s["frame"] for s in samples]
    fig, (rss, other) = plt.subplots(1, 2, figsize=(11, 4))
    rss.plot(frames, [s["rss_mib"] for s in samples], "o-")
    rss.axvline(WARMUP, color="k", ls=":", label="end of warm-up")
    rss.set_xlabel("frames")
    rss.set_ylabel("node RSS (MiB)")
    rss.legend()
    other.plot(frames, [s["threads"] for s in samples], "o-", label="threads")
    other.plot(frames, [s["fds"] for s in samples], "s-", label="open file descriptors")
    other.set_xlabel("frames")
    other.legend()
    fig.suptitle("segmentation_node soak")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="mnv2", help="checkpoint or preset (random weights)")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", default="512x256", help="WIDTHxHEIGHT of the frames")
    parser.add_argument("--out", default=os.path.join(RESULTS, "soak.json"))
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    images = [rgb_to_image_fields(sample_image(seed, height, width), encoding)
              for seed, encoding in enumerate(["rgb8", "bgr8", "yuv422", "bayer_rggb8", "mono8"])]
    malformed = dict(images[0], height=height + 1)

    processes.isolate()  # a DDS domain of our own, shared with the node process
    rclpy.init()
    namespace = unique_namespace("soak")
    params = {"weights": args.weights, "backend": args.backend, "input_qos": "reliable",
              "publish_overlay": True, "warmup": 1, "error_log_period": 60.0}
    samples = []
    with NodeProcess(namespace, params) as node:
        node.wait_ready(timeout=300)
        client = RosClient(namespace, reliable_input=True)
        client.wait_connected()
        pid = node.proc.pid
        for frame in tqdm(range(1, args.frames + 1), desc="soak", unit="frame"):
            if frame % 10 == 0:
                client.publish(client.image_msg(malformed, 100000 + frame))
            msg = client.image_msg(images[frame % len(images)], frame)
            client.send_and_wait(msg, frame, kinds=("labels", "color", "overlay", "info"), timeout=120,
                                 resend_after=120)
            for kind in client.received:  # keep the client's own memory flat
                client.received[kind].clear()
            if frame % EVERY == 0 or frame == 1:
                samples.append(dict(process_figures(pid), frame=frame))
        status = client.latest_diagnostics(timeout=10)
        client.close()
        alive = node.proc.poll() is None
        node.stop()
    rclpy.shutdown()

    warm = [s for s in samples if s["frame"] >= min(WARMUP, args.frames // 2)][0]
    last = samples[-1]
    growth = (last["rss_mib"] - warm["rss_mib"]) / warm["rss_mib"]
    result = {
        "frames": args.frames, "size": args.size, "weights": args.weights, "backend": status["backend"],
        "malformed_sent": args.frames // 10, "malformed_counted": int(status["frames_malformed"]),
        "frames_published_by_node": int(status["frames_published"]), "node_alive": alive,
        "rss_mib_after_warmup": warm["rss_mib"], "rss_mib_end": last["rss_mib"], "rss_growth": growth,
        "rss_target": 0.05, "threads": [warm["threads"], last["threads"]], "fds": [warm["fds"], last["fds"]],
        "latency_ms_p50": float(status["latency_ms_p50"]), "samples": samples,
    }
    result["met"] = bool(alive and growth < 0.05 and last["threads"] <= warm["threads"]
                         and last["fds"] <= warm["fds"] and result["frames_published_by_node"] >= args.frames)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    plot(os.path.splitext(args.out)[0] + ".png", samples)
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    print("RSS over frames (MiB):", np.round([s["rss_mib"] for s in samples], 1).tolist())
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
