"""bench/gpu_node_bench.py and bench/gpu_session.sh (the prepared GPU run of the node) on this CPU: the
figures from the player's log, and the node stage of the session's --smoke run end to end over real DDS."""

import json
import os
import subprocess
import sys

import pytest
from script_helpers import REPO, load_script


def load_node_bench():
    return load_script("bench", "gpu_node_bench.py")


def test_latency_pairs_an_answer_with_the_latest_publication_of_its_stamp(tmp_path):
    bench = load_node_bench()
    log = tmp_path / "publish.csv"
    # topic,bag_time_ns,header_stamp_ns,wall_time_ns: stamp 7 at 10.0 s and again (the next loop) at 11.0 s
    log.write_text("/ns/image,1,7,10000000000\n/ns/image,2,8,10500000000\n/ns/image,1,7,11000000000\n")
    published = bench.read_publish_log(str(log))
    assert published == {7: [10.0, 11.0], 8: [10.5]}
    latency = bench.latencies_ms(published, [(7, 10.02), (8, 10.53), (7, 11.01), (9, 12.0)])
    assert latency == pytest.approx([20.0, 30.0, 10.0])  # stamp 9 was never published: no latency


def test_player_command_is_paced_by_the_labels_only_when_gated():
    bench = load_node_bench()
    gated = bench.player_command("/bags/b", "/gpu_x", 1000.0, "/tmp/p.csv", gated=True)
    assert gated[1:4] == ["-m", "swiftnet_ros.commands.main", "play-bag"]
    assert gated[gated.index("--answer-topic") + 1] == "/gpu_x/segmentation/labels"
    assert gated[gated.index("--max-in-flight") + 1] == "1"
    assert gated[gated.index("--topic-remap") + 1] == "/camera/image_raw:=/gpu_x/image"
    camera = bench.player_command("/bags/b", "/gpu_x", 40.0, "/tmp/p.csv", gated=False)
    assert "--answer-topic" not in camera and camera[camera.index("--rate") + 1] == "40.0"


def test_smoke_settings_fit_a_cpu():
    args = load_node_bench().parse_args(["--smoke", "--out", "/tmp/x"])
    assert (args.device, args.precision, args.sizes) == ("cpu", "fp32", "128x64")
    assert args.answers + args.skip < 20 and args.cpu_threads == 1


def test_the_session_script_parses():
    assert subprocess.run(["bash", "-n", os.path.join(REPO, "bench", "gpu_session.sh")]).returncode == 0


@pytest.mark.processes
@pytest.mark.slow
def test_session_smoke_node_stage_writes_node_results(tmp_path):
    """The node stage exactly as the GPU run calls it (through gpu_session.sh), on the CPU with fp32."""
    env = dict(os.environ, OUT=str(tmp_path), STAGES="node", PY=sys.executable)
    done = subprocess.run(["bash", os.path.join(REPO, "bench", "gpu_session.sh"), "--smoke"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=280)
    output = done.stdout.decode(errors="replace")
    assert "== node: exit 0" in output, output[-3000:]
    report = json.loads((tmp_path / "gpu_node.json").read_text())
    assert report["kind"] == "node" and report["machine"]["device"] == "cpu"
    assert report["transport"] == "FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA"
    runs = {(r["run"], r["outputs"]): r for r in report["results"]}
    assert set(runs) == {(run, outputs) for run in ("paced", "camera_2x")
                         for outputs in ("labels+info", "labels+info+color+overlay")}, report["skipped"]
    for row in runs.values():
        assert row["kind"] == "node" and row["answered_fps"] > 0
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p95"]
        assert row["inference_ms_p50"] > 0
        assert row["node_stages_ms"]["inference_ms_p50"] > 0 and "publish_ms_p95" in row["node_stages_ms"]
    assert runs[("paced", "labels+info")]["color_received"] == 0  # colour off: nothing published
    assert runs[("paced", "labels+info+color+overlay")]["overlay_received"] > 0
    camera = runs[("camera_2x", "labels+info")]
    paced_fps = runs[("paced", "labels+info")]["answered_fps"]
    assert camera["camera_hz_target"] == pytest.approx(2 * paced_fps, rel=0.01)
    assert camera["dropped_by_node"] >= 0 and camera["p95_over_median_inference"] > 0
    assert report["segmenter"][0]["e2e_ms_p50"] > 0
    assert report["agreement"][0]["frames"] >= 1 and report["agreement"][0]["met"]  # fp32 vs fp32 on a CPU
    assert "answered_fps" in output and "agreement 128x64 cpu fp32 vs cpu fp32" in output  # the table
    logs = (tmp_path / "gpu_node_logs.txt").read_text()
    assert "ready:" in logs
    # the paced runs' player found the node behind the labels (else it waits 10 s for a service per run)
    assert "cannot confirm" not in logs and "the first answer may be lost" not in logs
