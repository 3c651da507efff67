"""Bar charts of a gpu_bench.py JSON, one per model and size (the `swiftnet-ros bench` chart).

    python bench/plot_gpu_bench.py bench/results/gpu_bench_h100.json [--models rn18]
writes <json stem>_<model>_<size>.png beside the JSON.
"""

import argparse
import json
import os
import sys
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from swiftnet_ros.tools.benchmark import plot_results  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="gpu_bench.json")
    parser.add_argument("--models", default="", help="comma list of model presets (default: all)")
    args = parser.parse_args(argv)
    with open(args.report) as f:
        report = json.load(f)
    wanted = [m for m in args.models.split(",") if m]
    stem = os.path.splitext(args.report)[0]
    groups = {}  # type: dict
    for r in report["results"]:
        groups.setdefault((r["model"], r["size"]), []).append(r)
    for (model, size), rows in groups.items():
        if wanted and model not in wanted:
            continue
        path = "{}_{}_{}.png".format(stem, model, size)
        plot_results({"model": model, "size": size, "results": rows, "machine": report["machine"]}, path)
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
