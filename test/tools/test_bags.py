"""rosbag2 writing and reading (``swiftnet_ros.tools.bags``) and the ``make-bag`` command."""

import os
import subprocess
import sys

import numpy as np
import pytest

from swiftnet_ros.ros.image_conversion import image_to_rgb
from swiftnet_ros.tools import bags


def _scenes(n, size=(20, 32), seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, size + (3,), dtype=np.uint8), rng.integers(0, 19, size, dtype=np.uint8))
            for _ in range(n)]


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_round_trip_keeps_pixels_labels_stamps_and_frame_id(tmp_path, storage):
    scenes = _scenes(4)
    path = str(tmp_path / "bag")
    count = bags.write_image_bag(path, scenes, rate=25.0, storage=storage, frame_id="cam_x",
                                 start_ns=5 * 10 ** 9)
    assert count == 4
    meta = bags.bag_metadata(path)
    assert meta["storage_identifier"] == storage
    assert bags.topic_counts(path) == {bags.IMAGE_TOPIC: 4, bags.GROUND_TRUTH_TOPIC: 4}
    frames = bags.read_frames(path)
    assert [f.stamp_ns for f in frames] == [5 * 10 ** 9 + i * 40 * 10 ** 6 for i in range(4)]
    for frame, (rgb, labels) in zip(frames, scenes):
        assert frame.frame_id == "cam_x"
        np.testing.assert_array_equal(frame.image, rgb)
        np.testing.assert_array_equal(frame.labels, labels)
    # bag time = header stamp, so play-bag paces frames as recorded
    times = [m.timestamp for m in bags.iter_messages(path, [bags.IMAGE_TOPIC])]
    assert times == [f.stamp_ns for f in frames]


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "mono8", "yuv422", "bayer_rggb8"])
def test_every_encoding_is_stored_as_the_node_reads_it(tmp_path, encoding):
    from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

    scenes = _scenes(1, size=(16, 24))
    path = str(tmp_path / encoding)
    bags.write_image_bag(path, scenes, encoding=encoding, row_padding=6)
    message = next(bags.iter_messages(path, [bags.IMAGE_TOPIC]))
    msg = bags.deserialize(message)
    fields = rgb_to_image_fields(scenes[0][0], encoding, row_padding=6)
    assert (msg.encoding, msg.step, msg.height, msg.width) == (encoding, fields["step"], 16, 24)
    assert bytes(msg.data) == bytes(fields["data"])
    expected = image_to_rgb(encoding, 16, 24, fields["step"], fields["data"])
    np.testing.assert_array_equal(bags.image_to_array(msg), expected)


def test_frames_without_labels_have_no_ground_truth_topic(tmp_path):
    path = str(tmp_path / "nolabels")
    bags.write_image_bag(path, [(rgb, None) for rgb, _ in _scenes(2)])
    assert bags.topic_counts(path) == {bags.IMAGE_TOPIC: 2}
    assert [f.labels for f in bags.read_frames(path, ground_truth_topic=None)] == [None, None]


def test_failure_while_writing_leaves_nothing_behind(tmp_path):
    def scenes():
        yield from _scenes(2)
        raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError, match="camera unplugged"):
        bags.write_image_bag(str(tmp_path / "partial"), scenes())
    assert os.listdir(str(tmp_path)) == []


def test_existing_bag_is_kept_unless_overwrite(tmp_path):
    path = str(tmp_path / "bag")
    bags.write_image_bag(path, _scenes(1))
    with pytest.raises(FileExistsError, match="exists already"):
        bags.write_image_bag(path, _scenes(3))
    assert bags.topic_counts(path)[bags.IMAGE_TOPIC] == 1
    bags.write_image_bag(path, _scenes(3), overwrite=True)
    assert bags.topic_counts(path)[bags.IMAGE_TOPIC] == 3
    assert sorted(os.listdir(str(tmp_path))) == ["bag"]


@pytest.mark.parametrize("kwargs, message", [
    ({"rate": 0.0}, "bad rate 0.0"),
    ({"storage": "rosbag1"}, "bad storage 'rosbag1': expected one of mcap, sqlite3"),
])
def test_bad_writer_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bags.write_image_bag(str(tmp_path / "bag"), _scenes(1), **kwargs)


@pytest.mark.parametrize("text, expected", [("512x256", (256, 512)), ("64X32", (32, 64))])
def test_parse_size(text, expected):
    assert bags.parse_size(text) == expected


@pytest.mark.parametrize("text", ["512", "512x", "ax256", "8x8", "512x256x3"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="bad size"):
        bags.parse_size(text)


def test_missing_bag_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no rosbag2 bag at"):
        bags.topic_counts(str(tmp_path / "absent"))
    bags.write_image_bag(str(tmp_path / "b"), _scenes(1))
    with pytest.raises(ValueError, match=r"topics \['/nope'\] not in bag"):
        list(bags.iter_messages(str(tmp_path / "b"), ["/nope"]))


def _make_bag(args):
    return subprocess.run([sys.executable, "-m", "swiftnet_ros.commands.main", "make-bag"] + args,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_make_bag_synthetic_holds_the_exact_ground_truth(tmp_path, storage):
    from swiftnet_ros.data.synthetic import make_scene

    path = str(tmp_path / "synthetic")
    proc = _make_bag(["--synthetic", "--frames", "3", "--size", "64x32", "-o", path, "--storage", storage,
                      "--seed", "7", "--rate", "20", "--encoding", "bgr8"])
    assert proc.returncode == 0, proc.stderr
    assert "wrote {}".format(path) in proc.stdout
    description = bags.synthetic_description(path)
    assert description["frames"] == 3 and (description["height"], description["width"]) == (32, 64)
    assert description["seed"] == 7 and description["encoding"] == "bgr8"
    frames = bags.read_frames(path)
    assert [f.stamp_ns for f in frames] == [bags.DEFAULT_START_NS + i * 50 * 10 ** 6 for i in range(3)]
    for i, frame in enumerate(frames):
        rgb, labels = make_scene(7 + i, (32, 64))
        np.testing.assert_array_equal(frame.image, rgb)
        np.testing.assert_array_equal(frame.labels, labels)
        assert frame.frame_id == bags.FRAME_ID


@pytest.mark.parametrize("args, message", [
    (["--size", "64by32"], "bad size '64by32'"),
    (["--frames", "0"], "bad frame count 0"),
])
def test_make_bag_errors_are_one_clear_line(tmp_path, args, message):
    proc = _make_bag(["--synthetic", "-o", str(tmp_path / "b")] + args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not os.path.exists(str(tmp_path / "b"))


def test_make_bag_refuses_to_overwrite(tmp_path):
    path = str(tmp_path / "b")
    os.makedirs(path)
    proc = _make_bag(["--synthetic", "--frames", "1", "--size", "32x16", "-o", path])
    assert proc.returncode == 2 and "exists already" in proc.stderr
    assert proc.stderr.startswith("swiftnet-ros make-bag: error: ")


@pytest.mark.parametrize("args, message", [
    (["--rate", "inf"], "bad rate inf"),
    (["--rate", "nan"], "bad rate nan"),
    (["--seed", "-1"], "bad seed -1"),
    (["--row-padding", "-3"], "row_padding must be >= 0"),
    (["--image-topic", "bad topic"], "image topic 'bad topic': expected an absolute ROS topic name"),
    (["--ground-truth-topic", "relative"], "ground truth topic 'relative'"),
    (["--image-topic", "/a", "--ground-truth-topic", "/a"], "both /a"),
    (["--encoding", "yuv422", "--size", "17x16"], "yuv422 needs an even width, got 17"),
    (["--size", "9000x16"], "sides 16..8192"),
])
def test_make_bag_checks_every_setting_before_the_first_frame(tmp_path, capsys, args, message):
    from swiftnet_ros.commands.main import main

    assert main(["make-bag", "--synthetic", "--frames", "2", "-o", str(tmp_path / "b")] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("swiftnet-ros make-bag: error: ") and err.count("\n") == 1 and message in err, err
    assert os.listdir(str(tmp_path)) == []  # no progress bar started, nothing written


def test_make_bag_overwrite_says_the_flag_and_replaces_only_bags(tmp_path, capsys):
    from swiftnet_ros.commands.main import main

    path = str(tmp_path / "b")
    base = ["make-bag", "--synthetic", "--frames", "1", "--size", "32x16", "-o", path]
    assert main(base) == 0
    assert main(base) == 2
    assert "remove it, or replace it with --overwrite" in capsys.readouterr().err
    assert main(base + ["--frames", "2", "--overwrite"]) == 0
    assert bags.topic_counts(path)[bags.IMAGE_TOPIC] == 2
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep")
    assert main(["make-bag", "--synthetic", "--frames", "1", "--size", "32x16", "-o", str(precious),
                 "--overwrite"]) == 2
    assert "is not a rosbag2 bag (no metadata.yaml): not replacing it" in capsys.readouterr().err
    assert (precious / "thesis.tex").read_text() == "keep"
