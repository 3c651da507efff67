"""The demo harness's own helpers (its end-to-end run is test/integration's)."""

from swiftnet_ros.tools.demo import model_ready_line


def test_the_model_ready_line_is_read_from_the_node_log(tmp_path):
    log = tmp_path / "node.log"
    assert model_ready_line(str(log)) == ""  # no log yet
    log.write_text("[INFO] [1.0] [segmentation_node]: loading demo/swiftnet_demo.pt (backend auto, fp32)\n"
                   "[INFO] [2.5] [segmentation_node]: model ready in 1.5 s: mnv2 (19 classes) at 512x256 via "
                   "onnxruntime fp32; auto: onnxruntime (timed 168 ms vs torch 473 ms at 512x256 on this "
                   "machine, cached /c/auto/x.json on 2026-12-02)\n")
    assert model_ready_line(str(log)) == (
        "model ready in 1.5 s: mnv2 (19 classes) at 512x256 via onnxruntime fp32; auto: onnxruntime (timed "
        "168 ms vs torch 473 ms at 512x256 on this machine, cached /c/auto/x.json on 2026-12-02)")
