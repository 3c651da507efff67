"""Which rgb8 frame sizes arrive between two processes of one machine, best effort vs reliable QoS.

A publisher process sends one frame size for a few seconds (about two frames a second, keep last 1)
and this process counts what its subscriber of the same reliability receives. Run with Fast DDS's
LARGE_DATA builtin transports (what the repository's tests and demo use) and, with
``--transports DEFAULT``, with its defaults. Writes bench/results/qos_frame_sizes.json; the node's
diagnostics hint (``ros/pipeline.py``: BEST_EFFORT_FRAME_LIMIT_KIB) and the README quote it.

    python bench/qos_frame_sizes.py
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from swiftnet_ros.files import write_json_atomic
from swiftnet_ros.tools.processes import isolate

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SIZES = ("320x240", "480x360", "640x360", "1280x720", "1920x1080", "4000x3000")
SECONDS = 8.0

PUBLISHER = r'''
import sys, time
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
width, height = int(sys.argv[1]), int(sys.argv[2])
reliable, seconds = sys.argv[3] == "reliable", float(sys.argv[4])
rclpy.init()
node = rclpy.create_node("qos_frame_sizes_publisher")
qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE if reliable
                 else ReliabilityPolicy.BEST_EFFORT)
publisher = node.create_publisher(Image, "qos_frame_sizes", qos)
msg = Image(width=width, height=height, encoding="rgb8", step=3 * width)
msg.data = bytes(3 * width * height)
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    if publisher.get_subscription_count():
        publisher.publish(msg)
        sent += 1
    rclpy.spin_once(node, timeout_sec=0.5)
print(sent)
'''


def measure(qos: str, size: str) -> dict:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    width, height = (int(v) for v in size.split("x"))
    node = rclpy.create_node("qos_frame_sizes_subscriber")
    received = []
    profile = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE if qos == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT)
    node.create_subscription(Image, "qos_frame_sizes", lambda msg: received.append(len(msg.data)), profile)
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(width), str(height), qos, str(SECONDS)],
                            stdout=subprocess.PIPE, text=True)
    end = time.monotonic() + SECONDS + 2.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    sent = int(proc.communicate(timeout=30)[0].strip() or 0)
    node.destroy_node()
    return {"qos": qos, "size": size, "kib": round(3 * width * height / 1024.0, 1), "sent": sent,
            "received": len(received)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transports", default="LARGE_DATA",
                        help="FASTDDS_BUILTIN_TRANSPORTS (default LARGE_DATA)")
    parser.add_argument("--json", default=os.path.join(RESULTS, "qos_frame_sizes.json"))
    args = parser.parse_args()
    import rclpy

    isolate()  # a domain of our own, localhost discovery
    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = args.transports
    rclpy.init()
    rows = []
    for qos in ("best_effort", "reliable"):
        for size in SIZES:
            rows.append(measure(qos, size))
            print("{qos:12} {size:>10} {kib:>9} KiB  sent {sent:3}  received {received:3}".format(**rows[-1]))
    rclpy.shutdown()
    report = {"transports": args.transports, "seconds_per_size": SECONDS,
              "machine": platform.machine(), "rows": rows}
    previous = json.load(open(args.json)) if os.path.isfile(args.json) else {}
    runs = {r["transports"]: r for r in previous.get("runs", [])}
    runs[args.transports] = report
    write_json_atomic(args.json, {"runs": sorted(runs.values(), key=lambda r: r["transports"])})
    print("wrote {}".format(args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
