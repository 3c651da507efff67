"""Interrupted writes (Ctrl-C in train, export, build-engine) leave no partial file behind."""

import os

import pytest
import torch

from swiftnet_ros.data.labels import get_label_set
from swiftnet_ros.files import atomic_path, write_bytes_atomic
from swiftnet_ros.model import build_model, load_model, save_checkpoint


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "model.onnx"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(target)) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half a file")
            raise KeyboardInterrupt
    assert os.listdir(str(tmp_path / "out")) == []
    write_bytes_atomic(str(target), b"whole")
    assert target.read_bytes() == b"whole" and os.listdir(str(tmp_path / "out")) == ["model.onnx"]


def test_interrupted_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    labels = get_label_set("cityscapes")
    model = build_model("mnv2")
    path = str(tmp_path / "last.pt")
    save_checkpoint(path, model, labels.class_names, labels.palette, extra={"epoch": 1})
    real_save = torch.save

    def save_then_interrupt(obj, f):
        real_save(obj, f)  # the bytes are on disk under the temporary name ...
        raise KeyboardInterrupt  # ... when Ctrl-C arrives

    monkeypatch.setattr(torch, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, labels.class_names, labels.palette, extra={"epoch": 2})
    monkeypatch.undo()
    assert os.listdir(str(tmp_path)) == ["last.pt"]
    _, meta = load_model(path)
    assert meta["epoch"] == 1
