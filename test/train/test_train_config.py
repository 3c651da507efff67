"""TrainConfig: paper defaults, YAML loading with clear errors, CLI overrides."""

import argparse

import pytest

from swiftnet_ros.commands import train as train_cli
from swiftnet_ros.train.config import TrainConfig, config_keys, load_config, save_config


def test_defaults_are_the_papers_recipe():
    c = TrainConfig(root="/data/cityscapes")
    assert (c.lr, c.encoder_lr, c.weight_decay, c.encoder_weight_decay) == (4e-4, 1e-4, 1e-4, 2.5e-5)
    assert c.betas == [0.9, 0.99] and c.min_lr == 1e-6
    assert (c.epochs, c.batch_size, c.crop_size) == (250, 14, 768)
    assert (c.scale_min, c.scale_max, c.flip, c.loss) == (0.5, 2.0, True, "ce")
    assert (c.focal_gamma, c.boundary_bins, c.boundary_weights) == (0.5, [16, 64, 128], [8, 4, 2, 1])


def test_unknown_yaml_key_lists_the_valid_ones(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("dataset: synthetic\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError) as err:
        load_config(str(path))
    message = str(err.value)
    assert "learning_rate" in message and str(path) in message
    for key in config_keys():
        assert key in message


def test_yaml_values_are_coerced_and_flags_override(tmp_path):
    path = tmp_path / "cfg.yaml"
    # PyYAML reads 4e-4 (no dot) as a string: it must still become a float
    path.write_text("dataset: synthetic\nlr: 4e-4\nepochs: 3\nsize: [64, 128]\nflip: false\n")
    c = load_config(str(path))
    assert c.lr == pytest.approx(4e-4) and isinstance(c.lr, float)
    assert (c.epochs, c.size, c.flip) == (3, [64, 128], False)
    c2 = load_config(str(path), epochs=5, lr=None, flip=True)
    assert (c2.epochs, c2.lr, c2.flip) == (5, c.lr, True)


def test_saved_config_round_trips(tmp_path):
    c = TrainConfig(dataset="synthetic", epochs=2, size=[32, 64], loss="boundary")
    save_config(c, str(tmp_path / "c.yaml"))
    assert load_config(str(tmp_path / "c.yaml")) == c


@pytest.mark.parametrize("values, words", [
    ({"dataset": "kitti"}, ["dataset", "kitti", "cityscapes"]),
    ({"dataset": "synthetic", "loss": "dice"}, ["loss", "dice", "boundary"]),
    ({"dataset": "synthetic", "epochs": 0}, ["epochs", "0"]),
    ({"dataset": "synthetic", "epochs": "many"}, ["epochs", "many"]),
    ({"dataset": "synthetic", "flip": "yes"}, ["flip", "yes"]),
    ({"dataset": "cityscapes"}, ["root"]),
    ({"dataset": "synthetic", "train_seed": 424000, "train_num": 1000, "val_seed": 424242},
     ["overlap", "424242"]),
    ({"dataset": "synthetic", "boundary_weights": [1, 2]}, ["boundary_weights"]),
    ({"dataset": "synthetic", "scale_min": 2.0, "scale_max": 1.0}, ["scale_min"]),
])
def test_bad_values_give_clear_errors(values, words):
    with pytest.raises(ValueError) as err:
        TrainConfig.from_dict(values)
    for word in words:
        assert word in str(err.value)


def test_missing_yaml_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(str(tmp_path / "nope.yaml"))


def test_cli_flags_map_onto_config_fields(tmp_path):
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    path = tmp_path / "cfg.yaml"
    path.write_text("dataset: synthetic\nmodel: mnv2\nepochs: 7\n")
    args = parser.parse_args(["--config", str(path), "--epochs", "2", "--upsample", "nearest", "--blend",
                              "1x1", "--size", "128x64", "--no-flip", "--save-fp16",
                              "--init-encoder", "rn.pth"])
    c = train_cli.config_from_args(args)
    assert (c.model, c.epochs, c.upsample, c.blend, c.size) == ("mnv2", 2, "nearest", "1x1", [64, 128])
    assert (c.flip, c.save_fp16, c.init_encoder, c.amp) == (False, True, "rn.pth", True)


def test_train_command_reports_config_errors_in_one_line(tmp_path, capsys):
    from swiftnet_ros.commands.main import main

    path = tmp_path / "cfg.yaml"
    path.write_text("dataset: synthetic\nepochz: 3\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) epochz" in err and "epochs" in err and "Traceback" not in err
    missing_root = str(tmp_path / "nowhere")
    assert main(["train", "--dataset", "cityscapes", "--root", missing_root, "--epochs", "1"]) == 2
    assert "nowhere" in capsys.readouterr().err
