"""``swiftnet-ros demo`` (what ``make demo`` runs): the node on the bundled checkpoint, a synthetic bag."""

import argparse
from typing import Any, Dict, Optional

from swiftnet_ros.commands.main import RunError, UsageError
from swiftnet_ros.tools.demo import (
    DEFAULT_NAMESPACE,
    DEFAULT_OUT,
    DEMO_SEED,
    DemoError,
    DemoSettings,
    check_run,
    run_demo,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default="demo",
                        help="weights for the node (default 'demo': the bundled demo/swiftnet_demo.pt)")
    parser.add_argument("--bag", help="play this rosbag2 instead of the cached synthetic one")
    parser.add_argument("--frames", type=int, default=40, help="frames of the synthetic bag (default 40)")
    parser.add_argument("--size", default="512x256", metavar="WxH",
                        help="synthetic frame size (default 512x256)")
    parser.add_argument("--seed", type=int, default=DEMO_SEED,
                        help="first scene seed (default {}: scenes the demo checkpoint was neither trained "
                             "nor validated on)".format(DEMO_SEED))
    parser.add_argument("--fps", type=float, default=10.0,
                        help="most frames per second to play (default 10, the recorded rate); each frame "
                             "also waits for the answer to the previous one, so the CPU keeps up")
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default demo_out)")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of the node and its topics")
    parser.add_argument("--startup-timeout", type=float, default=60.0,
                        help="seconds to wait for the node to load the model and subscribe (default 60)")
    parser.add_argument("--domain-id", type=int, default=None,
                        help="ROS_DOMAIN_ID for the demo's processes (default: the environment's)")



def print_summary(summary: Dict[str, Any], out: str) -> None:
    def ms(value: Optional[float]) -> str:
        return "n/a" if value is None else "{:.1f} ms".format(value)

    print("demo: frames published {}, in {}, out {}, dropped {}".format(
        summary["frames_published"], summary["frames_in"], summary["frames_out"], summary["dropped"]))
    print("demo: latency end to end p50 {} p95 {}; in the node p50 {} p95 {}; inference p50 {}".format(
        ms(summary["latency_ms_p50"]), ms(summary["latency_ms_p95"]), ms(summary["node_latency_ms_p50"]),
        ms(summary["node_latency_ms_p95"]), ms(summary["inference_ms_p50"])))
    print("demo: mIoU against the synthetic ground truth {} over {} frames".format(
        "n/a" if summary["miou"] is None else "{:.1%}".format(summary["miou"]), summary["frames_scored"]))
    print("demo: wrote {} (summary.json, contact_sheet.png, latency_histogram.png) in {:.0f} s".format(
        out, summary["wall_s"]))



def run(args: argparse.Namespace) -> int:
    settings = DemoSettings(
        weights=args.weights, bag=args.bag, frames=args.frames, size=args.size, seed=args.seed,
        fps=args.fps, out=args.out, namespace=args.namespace, startup_timeout=args.startup_timeout,
        domain_id=args.domain_id)
    try:
        outcome = run_demo(settings)
        print_summary(outcome.summary, args.out)
        check_run(outcome)
    except DemoError as err:  # one line and its exit code through commands.main, as for every command
        raise (UsageError if err.code == 2 else RunError)(str(err)) from None
    return 0
