"""``swiftnet-ros play-bag`` usage errors: one line, exit 2, all found before ROS starts."""

import os

import pytest
import yaml

from swiftnet_ros.commands.main import main
from swiftnet_ros.tools import bags


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bags") / "b")
    bags.write_synthetic_bag(path, 1, size=(16, 32), progress=False)
    return path


@pytest.mark.parametrize("args, message", [
    (["--topics", "/nope"], "topics ['/nope'] not in bag"),  # was exit 1
    (["--topic-remap", "/nope:=/x"], "remapped topics ['/nope'] are not played"),  # was exit 1
    (["--topic-remap", "/camera/image_raw:=bad name"], "remap target '/bad name'"),
    (["--answer-topic", "relative/labels"], "answer topic 'relative/labels'"),  # was exit 1
    (["--max-in-flight", "0"], "bad max in flight 0"),  # was exit 1
    (["--node-name", "my player"], "bad node name 'my player'"),  # was a traceback
    (["--rate", "inf"], "bad rate inf"),
    (["--wait-timeout", "-1"], "bad wait timeout -1.0"),
    (["--start-delay", "nan"], "bad start delay nan"),
    (["--wait-for-subscribers", "-2"], "bad wait for subscribers -2"),
    (["--publish-log", "{tmp}/a_file/log.csv"], "publish log '{tmp}/a_file/log.csv'"),  # was a traceback
    (["--topic-remap", "/camera/image_raw=/x"], "expected OLD:=NEW"),
])
def test_usage_errors_exit_2_before_ros_starts(bag, tmp_path, capsys, args, message):
    (tmp_path / "a_file").write_text("not a folder")
    args = [a.format(tmp=tmp_path) for a in args]
    message = message.format(tmp=tmp_path)
    assert main(["play-bag", bag] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("swiftnet-ros play-bag: error: ") and err.count("\n") == 1 and message in err, err


def test_a_broken_or_missing_bag_is_a_usage_error(tmp_path, capsys):
    assert main(["play-bag", str(tmp_path / "absent")]) == 2
    assert "no rosbag2 bag at" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed")
    assert main(["play-bag", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "unreadable metadata.yaml" in err and err.count("\n") == 1, err
    (broken / "metadata.yaml").write_text(yaml.safe_dump({"rosbag2_bagfile_information": {}}))
    assert main(["play-bag", str(broken)]) == 2
    assert "unreadable metadata.yaml" in capsys.readouterr().err
    assert os.listdir(str(broken)) == ["metadata.yaml"]
