"""Label tables for Cityscapes and CamVid, written out explicitly like cityscapesScripts' labels.py.

Each table row is ``Label(name, id, train_id, color)``: ``id`` is the value stored in the dataset's
label files, ``train_id`` the class index the network predicts (``VOID`` = 255 is ignored) and
``color`` an RGB tuple. Class names, palettes and the id -> train id lookup are derived from the
tables, so they cannot drift apart. No torch here: this module is on the run-time path (Python 3.6).
"""

from collections import namedtuple
from typing import Any, Dict, List, Sequence

import numpy as np

VOID = 255

Label = namedtuple("Label", "name id train_id color")

# Cityscapes (https://github.com/mcordts/cityscapesScripts, cityscapesscripts/helpers/labels.py).
CITYSCAPES_LABELS = [
    #      name                    id  train_id  color
    Label("unlabeled",              0,  VOID,   (0, 0, 0)),
    Label("ego vehicle",            1,  VOID,   (0, 0, 0)),
    Label("rectification border",   2,  VOID,   (0, 0, 0)),
    Label("out of roi",             3,  VOID,   (0, 0, 0)),
    Label("static",                 4,  VOID,   (0, 0, 0)),
    Label("dynamic",                5,  VOID,   (111, 74, 0)),
    Label("ground",                 6,  VOID,   (81, 0, 81)),
    Label("road",                   7,  0,      (128, 64, 128)),
    Label("sidewalk",               8,  1,      (244, 35, 232)),
    Label("parking",                9,  VOID,   (250, 170, 160)),
    Label("rail track",            10,  VOID,   (230, 150, 140)),
    Label("building",              11,  2,      (70, 70, 70)),
    Label("wall",                  12,  3,      (102, 102, 156)),
    Label("fence",                 13,  4,      (190, 153, 153)),
    Label("guard rail",            14,  VOID,   (180, 165, 180)),
    Label("bridge",                15,  VOID,   (150, 100, 100)),
    Label("tunnel",                16,  VOID,   (150, 120, 90)),
    Label("pole",                  17,  5,      (153, 153, 153)),
    Label("polegroup",             18,  VOID,   (153, 153, 153)),
    Label("traffic light",         19,  6,      (250, 170, 30)),
    Label("traffic sign",          20,  7,      (220, 220, 0)),
    Label("vegetation",            21,  8,      (107, 142, 35)),
    Label("terrain",               22,  9,      (152, 251, 152)),
    Label("sky",                   23,  10,     (70, 130, 180)),
    Label("person",                24,  11,     (220, 20, 60)),
    Label("rider",                 25,  12,     (255, 0, 0)),
    Label("car",                   26,  13,     (0, 0, 142)),
    Label("truck",                 27,  14,     (0, 0, 70)),
    Label("bus",                   28,  15,     (0, 60, 100)),
    Label("caravan",               29,  VOID,   (0, 0, 90)),
    Label("trailer",               30,  VOID,   (0, 0, 110)),
    Label("train",                 31,  16,     (0, 80, 100)),
    Label("motorcycle",            32,  17,     (0, 0, 230)),
    Label("bicycle",               33,  18,     (119, 11, 32)),
    Label("license plate",         -1,  VOID,   (0, 0, 142)),  # never stored in labelIds images
]  # fmt: skip

# CamVid, 11 classes as used by SegNet and most papers (480x360 "*annot" images store these ids;
# 11 = Unlabelled). Colours are those of the original release's main class for each group.
CAMVID_LABELS = [
    #      name          id  train_id  color
    Label("Sky",          0,  0,     (128, 128, 128)),
    Label("Building",     1,  1,     (128, 0, 0)),
    Label("Pole",         2,  2,     (192, 192, 128)),
    Label("Road",         3,  3,     (128, 64, 128)),
    Label("Sidewalk",     4,  4,     (0, 0, 192)),
    Label("Tree",         5,  5,     (128, 128, 0)),
    Label("SignSymbol",   6,  6,     (192, 128, 128)),
    Label("Fence",        7,  7,     (64, 64, 128)),
    Label("Car",          8,  8,     (64, 0, 128)),
    Label("Pedestrian",   9,  9,     (64, 64, 0)),
    Label("Bicyclist",   10,  10,    (0, 128, 192)),
    Label("Unlabelled",  11,  VOID,  (0, 0, 0)),
]  # fmt: skip

# The original CamVid release (960x720, LabeledApproved_full/*_L.png): 32 classes stored as RGB
# colours (label_colors.txt). ``id`` is the row in that file; ``train_id`` groups them into the
# 11 classes above, following SegNet's grouping (e.g. LaneMkgsDriv -> Road, Wall -> Building).
CAMVID32_LABELS = [
    #      name                 id  train_id  color
    Label("Animal",              0,  9,     (64, 128, 64)),
    Label("Archway",             1,  1,     (192, 0, 128)),
    Label("Bicyclist",           2,  10,    (0, 128, 192)),
    Label("Bridge",              3,  1,     (0, 128, 64)),
    Label("Building",            4,  1,     (128, 0, 0)),
    Label("Car",                 5,  8,     (64, 0, 128)),
    Label("CartLuggagePram",     6,  9,     (64, 0, 192)),
    Label("Child",               7,  9,     (192, 128, 64)),
    Label("Column_Pole",         8,  2,     (192, 192, 128)),
    Label("Fence",               9,  7,     (64, 64, 128)),
    Label("LaneMkgsDriv",       10,  3,     (128, 0, 192)),
    Label("LaneMkgsNonDriv",    11,  3,     (192, 0, 64)),
    Label("Misc_Text",          12,  6,     (128, 128, 64)),
    Label("MotorcycleScooter",  13,  10,    (192, 0, 192)),
    Label("OtherMoving",        14,  8,     (128, 64, 64)),
    Label("ParkingBlock",       15,  4,     (64, 192, 128)),
    Label("Pedestrian",         16,  9,     (64, 64, 0)),
    Label("Road",               17,  3,     (128, 64, 128)),
    Label("RoadShoulder",       18,  4,     (128, 128, 192)),
    Label("Sidewalk",           19,  4,     (0, 0, 192)),
    Label("SignSymbol",         20,  6,     (192, 128, 128)),
    Label("Sky",                21,  0,     (128, 128, 128)),
    Label("SUVPickupTruck",     22,  8,     (64, 128, 192)),
    Label("TrafficCone",        23,  2,     (0, 0, 64)),
    Label("TrafficLight",       24,  6,     (0, 64, 64)),
    Label("Train",              25,  8,     (192, 64, 128)),
    Label("Tree",               26,  5,     (128, 128, 0)),
    Label("Truck_Bus",          27,  8,     (192, 128, 192)),
    Label("Tunnel",             28,  1,     (64, 0, 64)),
    Label("VegetationMisc",     29,  5,     (192, 192, 0)),
    Label("Void",               30,  VOID,  (0, 0, 0)),
    Label("Wall",               31,  1,     (64, 192, 0)),
]  # fmt: skip


class LabelSet:
    """The classes a model predicts (train ids 0..C-1), their colours and the id -> train id map."""

    def __init__(self, name: str, labels: Sequence[Label]) -> None:
        self.name = name
        self.labels = list(labels)
        by_train_id: Dict[int, Label] = {}
        for label in self.labels:
            if label.train_id != VOID and label.train_id not in by_train_id:
                by_train_id[label.train_id] = label
        train_ids = sorted(by_train_id)
        if train_ids != list(range(len(train_ids))) or not train_ids:
            raise ValueError("label set {!r}: train ids must be 0..C-1 without gaps, got {}".format(
                name, train_ids))
        self.class_names: List[str] = [by_train_id[i].name for i in train_ids]
        self.palette = np.array([by_train_id[i].color for i in train_ids], dtype=np.uint8).reshape(-1, 3)
        self.id_to_train_id = np.full(256, VOID, dtype=np.uint8)
        for label in self.labels:
            if 0 <= label.id < 256:
                self.id_to_train_id[label.id] = label.train_id if 0 <= label.train_id < VOID else VOID

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def from_classes(cls, name: str, class_names: Sequence[str],
                     colors: Sequence[Sequence[int]]) -> "LabelSet":
        """A label set whose stored ids are the train ids themselves (custom folders, synthetic data)."""
        if len(class_names) != len(colors):
            raise ValueError("label set {!r}: {} class names but {} colours; expected one colour per class"
                             .format(name, len(class_names), len(colors)))
        for color in colors:
            if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
                raise ValueError("label set {!r}: colour {!r} is not an RGB triple in 0..255"
                                 .format(name, color))
        if not 0 < len(class_names) < VOID:
            raise ValueError("label set {!r}: {} classes; expected 1..254".format(name, len(class_names)))
        return cls(name, [Label(str(n), i, i, tuple(int(c) for c in col))
                          for i, (n, col) in enumerate(zip(class_names, colors))])

    def __repr__(self) -> str:
        return "LabelSet({!r}, num_classes={})".format(self.name, self.num_classes)


_TABLES = {"cityscapes": CITYSCAPES_LABELS, "camvid": CAMVID_LABELS}
LABEL_SETS = tuple(_TABLES)  # the names get_label_set (and the node's palette parameter) accept


def get_label_set(name: str) -> LabelSet:
    """The label set of a dataset by name: "cityscapes" (19 classes) or "camvid" (11 classes)."""
    key = str(name).lower()
    if key not in _TABLES:
        raise ValueError("unknown label set {!r}; expected one of: {}"
                         .format(name, ", ".join(sorted(_TABLES))))
    return LabelSet(key, _TABLES[key])


def color_to_train_id(label_rgb: np.ndarray, labels: Sequence[Label]) -> np.ndarray:
    """Map a colour-coded label image (H, W, 3 uint8 RGB) to train ids; unknown colours become VOID."""
    if label_rgb.ndim != 3 or label_rgb.shape[2] != 3 or label_rgb.dtype != np.uint8:
        raise ValueError("colour label image must be (H, W, 3) uint8, got {} {}".format(
            label_rgb.shape, label_rgb.dtype))
    codes: Dict[int, int] = {}
    for label in labels:  # the first label of a colour wins (Cityscapes reuses some colours)
        r, g, b = label.color
        codes.setdefault((r << 16) | (g << 8) | b, label.train_id if 0 <= label.train_id < VOID else VOID)
    keys = np.array(sorted(codes), dtype=np.int64)
    values = np.array([codes[k] for k in keys.tolist()], dtype=np.uint8)
    rgb = label_rgb.astype(np.int64)
    pixel_codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    index = np.minimum(np.searchsorted(keys, pixel_codes), len(keys) - 1)
    return np.where(keys[index] == pixel_codes, values[index], np.uint8(VOID)).astype(np.uint8)


def check_palette(colours: Any, num_classes: int, source: str = "palette") -> np.ndarray:
    """The (num_classes, 3) uint8 palette of colours (rows of whole numbers in 0..255), or ValueError
    naming ``source`` and what was expected. Checkpoints, exported models and the node's palette
    parameter all go through here."""
    array = np.asarray(colours)
    if array.ndim != 2 or array.shape != (num_classes, 3):
        raise ValueError("{} has shape {}; expected {} colours [r, g, b], one per class of the model".format(
            source, array.shape, num_classes))
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if not numeric or array.min() < 0 or array.max() > 255 or not np.array_equal(array, np.round(array)):
        raise ValueError("{} must hold integers in 0..255; got values from {} to {}".format(
            source, array.min() if numeric else "?", array.max() if numeric else "?"))
    return array.astype(np.uint8)
