"""The benchmark's rows per precision: bf16 is a torch row like the others, or skipped with its reason."""

import pytest
from model_helpers import bf16_missing

from swiftnet_ros.tools.benchmark import check_precisions, run_benchmark

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_bf16_row_beside_fp32_and_onnxruntime_skipped_with_its_reason():
    report = run_benchmark("mnv2", "torch,onnxruntime", "fp32,bf16", "128x64", runs=2, warmup=0,
                           device_text="cpu", threads=1)
    rows = {(r["name"], r["precision"]): r for r in report["results"]}
    skipped = {(s["config"], s["precision"]): s["error"] for s in report["skipped"]}
    assert ("torch", "fp32") in rows and ("onnxruntime", "fp32") in rows
    missing = bf16_missing()
    if missing:  # this CPU: both rows are skipped with the CPU's reason (checked first), not an error
        assert skipped[("torch", "bf16")] == skipped[("onnxruntime", "bf16")] == missing
        return
    assert "bf16 runs on the torch backend only" in skipped[("onnxruntime", "bf16")]
    row = rows[("torch", "bf16")]
    assert row["backend"] == "torch" and row["describe"].startswith("torch bf16 on cpu")
    assert row["label_agreement"] >= 0.99 and row["speedup_vs_baseline"] > 0 and row["runs"] == 2
    assert rows[("torch", "fp32")]["label_agreement"] >= 0.999


def test_bf16_is_a_precision_of_the_bench():
    check_precisions(["fp32", "bf16", "int8"], "fp32,bf16,int8")
    with pytest.raises(ValueError, match="expected comma-separated precisions out of fp32, fp16, bf16, int8"):
        check_precisions(["bf32"], "bf32")


def test_an_auto_row_names_what_auto_chose_and_why(tmp_path):
    report = run_benchmark("mnv2", "auto", "fp32", "128x64", runs=1, warmup=0, device_text="cpu", threads=1,
                           engine_cache_dir=str(tmp_path))
    (row,) = report["results"][1:]
    assert row["backend"] in ("torch", "onnxruntime")
    assert row["name"] == "auto ({})".format(row["backend"])
    assert "; auto: {} (timed".format(row["backend"]) in row["describe"]
    assert row["label_agreement"] >= 0.999


def test_int8_with_one_calibration_scene_is_refused_before_any_work():
    # int8 holds calibration scenes out to choose its fp32 layers: one scene cannot do it
    with pytest.raises(ValueError, match="--calibration-num must be >= 2 for int8"):
        run_benchmark("mnv2", "onnxruntime", "fp32,int8", "128x64", runs=1, warmup=0, device_text="cpu",
                      threads=1, calibration_num=1)
    report = run_benchmark("mnv2", "onnxruntime", "fp32", "64x32", runs=1, warmup=0, device_text="cpu",
                           threads=1, calibration_num=1)  # fp32 only: the count is not used
    assert [r["precision"] for r in report["results"]] == ["fp32", "fp32"]
