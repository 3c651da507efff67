"""Shared by the training tests: a tiny seeded synthetic configuration and its datasets."""

from swiftnet_ros.data.synthetic import SyntheticDataset
from swiftnet_ros.train.config import TrainConfig
from swiftnet_ros.train.data import DatasetInfo

SIZE = (64, 128)  # (height, width): tiny scenes keep every step well under a second


def tiny_config(out_dir, **changes):
    values = dict(dataset="synthetic", model="rn18", size=list(SIZE), train_seed=0, train_num=12,
                  val_seed=1000, val_num=4, epochs=2, batch_size=4, lr=1e-3, encoder_lr=1e-3, workers=0,
                  threads=1, seed=3, device="cpu", out_dir=str(out_dir))
    values.update(changes)
    return TrainConfig(**values)


def tiny_datasets(config, transform=None):
    train = SyntheticDataset(config.train_num, config.train_seed, size=SIZE, transform=transform)
    val = SyntheticDataset(config.val_num, config.val_seed, size=SIZE)
    return train, val, DatasetInfo.of(train)


def folder_dataset(root, images=(("a", (24, 32)), ("b", (24, 32))), split="train", classes=3):
    """A folder dataset of flat-coloured images with labels 0..classes-1 (root/images/split, labels/split,
    classes.yaml); returns the labels folder, for tests that spoil a label."""
    import cv2
    import numpy as np

    names = ["c{}".format(i) for i in range(classes)]
    colors = ", ".join("{{name: {}, color: [{}, 0, 0]}}".format(n, 40 * i) for i, n in enumerate(names))
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.yaml").write_text("classes: [{}]\n".format(colors))
    image_dir, label_dir = root / "images" / split, root / "labels" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    for i, (name, (height, width)) in enumerate(images):
        label = (np.arange(height * width).reshape(height, width) // max(1, width) % classes).astype(np.uint8)
        image = np.stack([label * 60, label * 30 + 20 * i, np.full_like(label, 90)], axis=-1)
        cv2.imwrite(str(image_dir / (name + ".png")), image)
        cv2.imwrite(str(label_dir / (name + ".png")), label)
    return label_dir
