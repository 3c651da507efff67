"""bench/gpu_bench.py (the prepared GPU run) exercises every code path on a CPU in --smoke mode."""

import json

from script_helpers import load_script


def load_gpu_bench():
    return load_script("bench", "gpu_bench.py")


def test_smoke_run_writes_the_bench_schema(tmp_path):
    gpu_bench = load_gpu_bench()
    assert gpu_bench.main(["--smoke", "--models", "mnv2", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert report["machine"]["device"] == "cpu"
    names = [r["name"] for r in report["results"]]
    assert names[0].startswith("baseline")
    assert any(n.startswith("Segmenter end to end") for n in names)
    for r in report["results"]:
        for key in ("backend", "precision", "size", "median_ms", "p90_ms", "fps", "label_agreement",
                    "speedup_vs_baseline", "model", "params", "gmacs"):
            assert key in r, key
        assert r["size"] == "96x64"
        assert r["label_agreement"] >= 0.995  # fp32 rewrites must give the baseline's labels
    assert report["results"][0]["speedup_vs_baseline"] == 1.0
    # CUDA-only variants are reported as skipped, with the reason
    assert any(s["error"] == "needs CUDA" for s in report["skipped"])


def test_refuses_cuda_without_a_gpu(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        return
    gpu_bench = load_gpu_bench()
    assert gpu_bench.main(["--out", str(tmp_path)]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
