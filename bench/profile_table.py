"""Paper vs ours: parameters and multiply-accumulates of every SwiftNet row the paper reports.

Counts come from swiftnet_ros.model.profile (forward hooks on the layers that run). Writes
bench/results/profile.json and prints a markdown table (README). Usage:
    .venv/bin/python bench/profile_table.py [--out bench/results/profile.json]
"""

import argparse
import json
import os
from typing import Any, Dict, List, Tuple

from tqdm import tqdm

from swiftnet_ros.model import build_model
from swiftnet_ros.model.profile import count_macs

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST_RELEASE = "3x3 logits without bias, as in the reference's first release (92bed69) the paper counted"
RN18_FULL, MNV2_CAMVID = (2048, 1024), (960, 720)


def _row(label: str, source: str, preset: str, overrides: Dict[str, Any], size: Tuple[int, int], metric: str,
         paper: float, tolerance: float, why: str = "") -> Dict[str, Any]:
    return {"row": label, "source": source, "preset": preset, "overrides": overrides, "size": size,
            "metric": metric, "paper": paper, "tolerance_pct": tolerance, "why": why}


ROWS = [
    _row("RN-18 single scale", "paper Sec. 4", "rn18", {}, RN18_FULL, "params_M", 11.8, 2),
    _row("RN-18 single scale", "paper Table 3", "rn18", {}, RN18_FULL, "gmacs", 104.0, 3,
         "the reference code measures 103.6"),
    _row("RN-18 single scale", "paper Table 3", "rn18", {}, (1024, 512), "gmacs", 26.0, 3,
         "the reference code measures 25.9"),
    _row("RN-18 decoder, current reference head", "suppl. Table 1", "rn18", {}, RN18_FULL, "decoder_params_K",
         636.0, 5, "1x1 logits with bias (reference HEAD): the reference code counts the same 620.6 K"),
]
for _blend, _params, _gmacs in (("3x3", 636.0, 104.0), ("grouped", 252.0, 84.1), ("separable", 250.0, 84.0),
                                ("1x1", 247.0, 83.8), ("inverted_residual", 405.0, 92.7)):
    _first = {"blend": _blend, "logits_kernel": 3}
    _is_3x3 = _blend == "3x3"
    _why = FIRST_RELEASE + ("; 636 K = ours less the decoder's 4.2 K BN values" if _is_3x3 else "")
    ROWS.append(_row("RN-18 blend " + _blend, "suppl. Table 1", "rn18", _first, RN18_FULL, "decoder_params_K",
                     _params, 5, _why))
    ROWS.append(_row("RN-18 blend " + _blend, "suppl. Table 1", "rn18", _first, RN18_FULL, "gmacs", _gmacs, 5,
                     "the 3x3 logits add 2.5 GMAC to the 1x1 head's 103.6" if _is_3x3 else ""))
ROWS += [
    _row("MN V2, CamVid (11 classes)", "suppl. Table 2", "mnv2", {"num_classes": 11, "logits_kernel": 3},
         MNV2_CAMVID, "decoder_params_K", 567.0, 10, FIRST_RELEASE),
    _row("MN V2, CamVid (11 classes)", "suppl. Table 2", "mnv2", {"num_classes": 11, "logits_kernel": 3},
         MNV2_CAMVID, "gmacs", 13.1, 10),
    _row("MN V2, 1x1 logits (our preset)", "suppl. Table 2", "mnv2", {"num_classes": 11}, MNV2_CAMVID,
         "decoder_params_K", 567.0, 10, "1x1 logits with bias: 11 K fewer"),
    _row("MN V2 single scale", "paper Table 5", "mnv2", {"logits_kernel": 3}, RN18_FULL, "gmacs", 41.0, 10),
    _row("MN V2 single scale, 1x1 logits (our preset)", "paper Table 5", "mnv2", {}, RN18_FULL, "gmacs", 41.0,
         10, "the 1x1 head saves 2.6 GMAC"),
]


def compute_rows() -> List[Dict[str, Any]]:
    """Every ROWS entry with our value and the relative difference."""
    cache = {}  # type: Dict[str, Dict[str, float]]
    rows = []
    for spec in tqdm(ROWS, desc="profiling", leave=False):
        width, height = spec["size"]
        key = json.dumps([spec["preset"], spec["overrides"], width, height], sort_keys=True)
        if key not in cache:
            model = build_model(spec["preset"], **spec["overrides"])
            cache[key] = {
                "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
                "decoder_params_K": sum(p.numel() for p in model.decoder_parameters()) / 1e3,
                "gmacs": count_macs(model, width, height) / 1e9,
            }
        ours = cache[key][spec["metric"]]
        row = dict(spec, size="{}x{}".format(width, height), ours=round(ours, 3))
        row["diff_pct"] = round(100.0 * (ours - spec["paper"]) / spec["paper"], 2)
        rows.append(row)
    return rows


def markdown(rows: List[Dict[str, Any]]) -> str:
    names = {"params_M": "parameters (M)", "decoder_params_K": "decoder parameters (K)", "gmacs": "GMAC"}
    lines = ["| model | source | input | quantity | paper | ours | diff | why they differ |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        extra = ", ".join("{}={}".format(k, v) for k, v in sorted(r["overrides"].items()))
        model = "{} (`{}`{})".format(r["row"], r["preset"], ", " + extra if extra else "")
        lines.append("| {} | {} | {} | {} | {:g} | {:.1f} | {:+.1f}% | {} |".format(
            model, r["source"], r["size"], names[r["metric"]], r["paper"], r["ours"], r["diff_pct"],
            r["why"]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results", "profile.json"))
    args = parser.parse_args()
    rows = compute_rows()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        counted = "Conv2d + Linear multiply-accumulates from forward hooks, batch 1"
        json.dump({"counted": counted, "rows": rows}, f, indent=1)
        f.write("\n")
    print(markdown(rows))
    outside = [r for r in rows if abs(r["diff_pct"]) > r["tolerance_pct"]]
    for r in outside:
        print("OUTSIDE TOLERANCE: {} {} {}".format(r["row"], r["metric"], r["diff_pct"]))
    return 1 if outside else 0


if __name__ == "__main__":
    raise SystemExit(main())
