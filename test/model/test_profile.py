"""Parameter and MAC counts reproduce the paper; `swiftnet-ros profile` prints them.

Counting forwards run on the 'meta' device (shapes only), so the full-resolution rows are cheap.
"""

import json
import os

import pytest
import torch
import torch.nn as nn
from script_helpers import load_script

from swiftnet_ros.commands import main as cli
from swiftnet_ros.model import build_model, save_checkpoint
from swiftnet_ros.model.profile import count_macs, profile_model
from swiftnet_ros.sizes import parse_size

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def within(value, target, pct):
    return abs(value - target) <= target * pct / 100.0


def test_mac_counting_by_hand():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, 12, 10) == 8 * 10 * 12 * 3 * 9
    grouped = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1, groups=3), nn.Flatten(),
                            nn.Linear(12 * 5 * 6, 7))
    assert count_macs(grouped, 12, 10, device="cpu") == 12 * 5 * 6 * 1 * 9 + 12 * 5 * 6 * 7


def test_counting_does_not_touch_the_model():
    model = build_model("mnv2", num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_macs(model, 64, 48)
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("preset", ["rn18-pyramid", "mnv2"])
def test_meta_and_cpu_counts_agree(preset):
    model = build_model(preset, num_classes=3)
    assert count_macs(model, 96, 64, device="meta") == count_macs(model, 96, 64, device="cpu")


def test_rn18_single_scale_size_and_cost():
    model = build_model("rn18")
    full = profile_model(model, 2048, 1024)
    assert within(full["params"] / 1e6, 11.8, 2)
    assert full["decoder_params"] == 620559  # the reference code's count
    assert within(full["gmacs"], 104.0, 3)
    assert within(profile_model(model, 1024, 512)["gmacs"], 26.0, 3)


@pytest.mark.parametrize("blend,params_k,gmacs", [
    ("3x3", 636, 104), ("grouped", 252, 84.1), ("separable", 250, 84.0), ("1x1", 247, 83.8),
    ("inverted_residual", 405, 92.7),
])
def test_supplement_table1_blend_variants(blend, params_k, gmacs):
    # the paper counted the first-release head (3x3 logits without bias)
    result = profile_model(build_model("rn18", blend=blend, logits_kernel=3), 2048, 1024)
    assert within(result["decoder_params"] / 1e3, params_k, 5), result
    assert within(result["gmacs"], gmacs, 5), result


def test_supplement_table2_and_table5_mobilenet_v2():
    camvid = profile_model(build_model("mnv2", num_classes=11, logits_kernel=3), 960, 720)
    assert within(camvid["decoder_params"] / 1e3, 567, 10) and within(camvid["gmacs"], 13.1, 10)
    assert within(profile_model(build_model("mnv2", logits_kernel=3), 2048, 1024)["gmacs"], 41.0, 10)
    ours = profile_model(build_model("mnv2", num_classes=11), 960, 720)  # our preset's 1x1 head
    assert within(ours["decoder_params"] / 1e3, 567, 10) and within(ours["gmacs"], 13.1, 10)


def test_cli_profile_json(capsys):
    assert cli.main(["profile", "--model", "rn18", "--size", "1024x512", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"params", "decoder_params", "gmacs"}
    assert out["params"] == 11797071 and within(out["gmacs"], 26.0, 3)
    assert cli.main(["profile", "--model", "rn18", "--size", "1024x512", "--blend", "1x1", "--upsample",
                     "nearest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decoder_params"] < 300000


def test_cli_profile_checkpoint_and_text(tmp_path, capsys):
    model = build_model("mnv2", num_classes=2)
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, model, ["a", "b"], [[0, 0, 0], [255, 255, 255]])
    assert cli.main(["profile", "--model", path, "--size", "320x240", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == sum(p.numel() for p in model.parameters())
    assert cli.main(["profile", "--model", "mnv2-pyramid", "--size", "320x240"]) == 0
    text = capsys.readouterr().out
    assert "pyramid of 2" in text and "GMAC" in text


def test_profile_errors(capsys):
    with pytest.raises(ValueError, match="size '2048'"):
        parse_size("2048")
    assert cli.main(["profile", "--model", "missing.pt"]) == 2  # one line, no traceback
    assert "missing.pt" in capsys.readouterr().err


@pytest.mark.modern_stack  # a bench/ script (tqdm); benchmarks need the modern stack
def test_committed_profile_table_is_current():
    table = load_script("bench", "profile_table.py")
    with open(os.path.join(REPO, "bench", "results", "profile.json")) as f:
        committed = json.load(f)["rows"]
    assert committed == table.compute_rows()
    assert all(abs(r["diff_pct"]) <= r["tolerance_pct"] for r in committed)
    assert "| RN-18 blend grouped" in table.markdown(committed)
