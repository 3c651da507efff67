"""Dataset readers: Cityscapes, CamVid (SegNet 480x360 layout and the original 960x720 release),
folders of image/label pairs, and the synthetic road scenes.

Every dataset yields (image float 3 x H x W RGB 0-255, label int64 H x W train ids, 255 = void) and
has ``label_set`` (class names, palette), ``files`` (image, label paths) and ``set_epoch``. A wrong
or empty folder raises one FileNotFoundError that says what was looked for and what was found.
"""

import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import yaml
from torch.utils.data import Dataset

from swiftnet_ros.files import IMAGE_SUFFIXES

from .base import LabelledDataset
from .labels import CAMVID32_LABELS, VOID, LabelSet, color_to_train_id, get_label_set
from .synthetic import SyntheticDataset


def _found(path: str, limit: int = 8) -> str:
    """What is at ``path``, for error messages."""
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        while parent and not os.path.isdir(parent) and parent != os.path.dirname(parent):
            parent = os.path.dirname(parent)
        return "{} does not exist ({} has: {})".format(path, parent, _listing(parent, limit))
    if not os.path.isdir(path):
        return "{} is a file, not a folder".format(path)
    return "{} has: {}".format(path, _listing(path, limit))


def _listing(path: str, limit: int) -> str:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return "nothing readable"
    if not names:
        return "nothing (empty)"
    shown = [n + ("/" if os.path.isdir(os.path.join(path, n)) else "") for n in names[:limit]]
    more = " and {} more".format(len(names) - limit) if len(names) > limit else ""
    return ", ".join(shown) + more


def _names(folder: str, suffix: str = "") -> List[str]:
    """Sorted entry names of a folder ending with ``suffix`` (case-insensitive); none if no folder."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if n.lower().endswith(suffix.lower()))


def _check_labels(dataset: str, missing: Sequence[str], total: int, hint: str = "") -> None:
    if missing:
        raise FileNotFoundError("{} of {} {} images have no label: looked for {}{}; {}".format(
            len(missing), total, dataset, missing[0], " " + hint if hint else "",
            _found(os.path.dirname(missing[0]))))


def read_image(path: str) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError("cannot read image {} (missing, or not an image file)".format(path))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image file from its header (PIL reads no pixels), else by decoding it."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
        return height, width
    except (ImportError, OSError):
        return read_image(path).shape[:2]


def _size_mismatch(image_path: str, image_hw: Sequence[int], label_path: str,
                   label_hw: Sequence[int]) -> ValueError:
    return ValueError("image {} is {}x{} but label {} is {}x{}; expected a label of its image's size".format(
        image_path, image_hw[1], image_hw[0], label_path, label_hw[1], label_hw[0]))


def read_label(path: str, color: bool = False) -> np.ndarray:
    """A label file as stored: (H, W) uint8 ids, or (H, W, 3) uint8 RGB when ``color``."""
    label = cv2.imread(path, cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED)
    if label is None:
        raise FileNotFoundError("cannot read label {} (missing, or not an image file)".format(path))
    if color:
        return cv2.cvtColor(label, cv2.COLOR_BGR2RGB)
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError("label {} is {} {}; expected a single-channel 8-bit PNG of class ids".format(
            path, label.shape, label.dtype))
    return label


class SegmentationDataset(LabelledDataset):
    """Image/label file pairs decoded to train ids; subclasses say how a label file is decoded."""

    def __init__(self, files: Sequence[Tuple[str, str]], label_set: LabelSet,
                 transform: Optional[Callable] = None, seed: int = 0) -> None:
        super().__init__(label_set, transform, seed)
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def decode_label(self, path: str) -> np.ndarray:
        return self.label_set.id_to_train_id[read_label(path)]

    def load(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """The untransformed pair: (H, W, 3) uint8 RGB image and (H, W) uint8 train ids."""
        image_path, label_path = self.files[index]
        image, label = read_image(image_path), self.decode_label(label_path)
        if image.shape[:2] != label.shape:
            raise _size_mismatch(image_path, image.shape[:2], label_path, label.shape)
        return image, label

    def check_files(self) -> None:
        """Decode every label once and compare its size with its image's header, before training: a
        bad class id or a label of another size is then one line naming the file, not a failure in
        the middle of an epoch (the same checks run again per sample in load)."""
        for image_path, label_path in self.files:
            label_hw = self.decode_label(label_path).shape
            image_hw = image_size(image_path)
            if tuple(image_hw) != tuple(label_hw):
                raise _size_mismatch(image_path, image_hw, label_path, label_hw)

    def __repr__(self) -> str:
        return "{}({} images, {} classes)".format(type(self).__name__, len(self), self.num_classes)


class Cityscapes(SegmentationDataset):
    """``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` with ``gtFine/{split}/{city}/``
    ``*_gtFine_labelTrainIds.png`` when present, else ``*_gtFine_labelIds.png`` mapped to train ids."""

    def __init__(self, root: str, split: str = "train", transform: Optional[Callable] = None,
                 seed: int = 0) -> None:
        image_dir = os.path.join(root, "leftImg8bit", split)
        label_dir = os.path.join(root, "gtFine", split)
        suffix = "_leftImg8bit.png"
        images = []
        for city in _names(image_dir):
            city_dir = os.path.join(image_dir, city)
            images += [os.path.join(city_dir, n) for n in _names(city_dir, suffix)]
        if not images:
            raise FileNotFoundError("no Cityscapes images: looked for {}/<city>/*{}; {}".format(
                image_dir, suffix, _found(image_dir)))
        files, missing = [], []
        for path in images:
            stem = os.path.basename(path)[:-len(suffix)]
            base = os.path.join(label_dir, os.path.basename(os.path.dirname(path)), stem + "_gtFine_")
            for kind in ("labelTrainIds.png", "labelIds.png"):
                if os.path.isfile(base + kind):
                    files.append((path, base + kind))
                    break
            else:
                missing.append(base + "labelIds.png")
        _check_labels("Cityscapes", missing, len(images), "(or *_gtFine_labelTrainIds.png)")
        super().__init__(files, get_label_set("cityscapes"), transform, seed)

    def decode_label(self, path: str) -> np.ndarray:
        label = read_label(path)
        if path.endswith("_labelTrainIds.png"):
            return np.where(label < self.num_classes, label, VOID).astype(np.uint8)
        return self.label_set.id_to_train_id[label]


class CamVid(SegmentationDataset):
    """CamVid, 11 classes, in either layout (``layout="auto"`` picks the one present):

    - ``segnet``: ``{split}/*.png`` with ``{split}annot/*.png`` (ids 0-10, 11 = void), 480x360;
    - ``original``: the 960x720 release, ``701_StillsRaw_full/*.png`` with colour-coded
      ``LabeledApproved_full/*_L.png`` (32 classes, grouped into the 11). The release defines no
      split: ``{split}.txt`` (in root or root/splits/) lists the images, one name or path per line
      (SegNet's ``train.txt`` works as is), and ``split="all"`` takes all 701.
    """

    def __init__(self, root: str, split: str = "train", transform: Optional[Callable] = None, seed: int = 0,
                 layout: str = "auto") -> None:
        if layout not in ("auto", "segnet", "original"):
            raise ValueError("CamVid layout must be auto, segnet or original, got {!r}".format(layout))
        if layout == "auto":
            if all(os.path.isdir(os.path.join(root, d)) for d in (split, split + "annot")):
                layout = "segnet"
            elif os.path.isdir(os.path.join(root, "701_StillsRaw_full")):
                layout = "original"
            else:
                raise FileNotFoundError(
                    "no CamVid data in {0}: looked for {1}/ with {1}annot/ (SegNet layout) or "
                    "701_StillsRaw_full/ with LabeledApproved_full/ (original release); {2}".format(
                        root, split, _found(root)))
        self.layout = layout
        files = self._segnet_files(root, split) if layout == "segnet" else self._original_files(root, split)
        super().__init__(files, get_label_set("camvid"), transform, seed)

    @staticmethod
    def _segnet_files(root: str, split: str) -> List[Tuple[str, str]]:
        image_dir, label_dir = os.path.join(root, split), os.path.join(root, split + "annot")
        files = [(os.path.join(image_dir, n), os.path.join(label_dir, n)) for n in _names(image_dir, ".png")]
        if not files:
            raise FileNotFoundError("no CamVid images: looked for {}/*.png; {}".format(
                image_dir, _found(image_dir)))
        _check_labels("CamVid", [lab for _, lab in files if not os.path.isfile(lab)], len(files))
        return files

    @staticmethod
    def _original_files(root: str, split: str) -> List[Tuple[str, str]]:
        image_dir = os.path.join(root, "701_StillsRaw_full")
        label_dir = os.path.join(root, "LabeledApproved_full")
        available = [os.path.splitext(n)[0] for n in _names(image_dir, ".png")]
        if not available:
            raise FileNotFoundError("no CamVid images: looked for {}/*.png; {}".format(
                image_dir, _found(image_dir)))
        if split == "all":
            stems = available
        else:
            lists = [os.path.join(root, split + ".txt"), os.path.join(root, "splits", split + ".txt")]
            list_file = next((p for p in lists if os.path.isfile(p)), None)
            if list_file is None:
                raise FileNotFoundError("the original CamVid release has no '{}' split: looked for {} or {} "
                                        "(one image name per line), or use split 'all'; {}".format(
                                            split, lists[0], lists[1], _found(root)))
            with open(list_file) as f:
                stems = [os.path.splitext(os.path.basename(line.split()[0]))[0] for line in f if line.strip()]
            unknown = sorted(set(stems) - set(available))
            if unknown or not stems:
                raise FileNotFoundError("{} lists {} images, {} of them not in {} (e.g. {!r})".format(
                    list_file, len(stems), len(unknown), image_dir, unknown[0] if unknown else None))
        files = [(os.path.join(image_dir, s + ".png"), os.path.join(label_dir, s + "_L.png")) for s in stems]
        _check_labels("CamVid", [lab for _, lab in files if not os.path.isfile(lab)], len(files))
        return files

    def decode_label(self, path: str) -> np.ndarray:
        if self.layout == "original":
            return color_to_train_id(read_label(path, color=True), CAMVID32_LABELS)
        return self.label_set.id_to_train_id[read_label(path)]


def load_classes_yaml(path: str) -> LabelSet:
    """Class names and colours of a folder dataset from YAML.

    Either ``classes: [{name: road, color: [128, 64, 128]}, ...]`` or ``names: [...]`` with
    ``colors: [[r, g, b], ...]``; optional ``name`` (the label set's name)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("no class list: looked for {}; {}".format(
            path, _found(os.path.dirname(path) or ".")))
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError("{}: expected a mapping with 'classes' (or 'names' and 'colors'), got {}".format(
            path, type(data).__name__))
    if "classes" in data:
        entries = data["classes"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e and "color" in e
                                                    for e in entries):
            raise ValueError("{}: 'classes' must be a list of {{name: ..., color: [r, g, b]}} entries"
                             .format(path))
        names, colors = [e["name"] for e in entries], [e["color"] for e in entries]
    elif "names" in data and "colors" in data:
        names, colors = data["names"], data["colors"]
    else:
        raise ValueError("{}: expected 'classes' (or 'names' and 'colors'), found keys {}".format(
            path, sorted(data)))
    default_name = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return LabelSet.from_classes(str(data.get("name", default_name)), names, colors)


class FolderDataset(SegmentationDataset):
    """Your own data: ``images/[split/]**/<name>.<png|jpg|...>`` with ``labels/[split/]**/<name>.png``
    and ``classes.yaml`` (names and colours). Label PNGs hold class ids 0..C-1 (255 = void) in one
    channel, or the class colours in RGB (other colours become void)."""

    def __init__(self, root: str, split: Optional[str] = None, transform: Optional[Callable] = None,
                 seed: int = 0, classes: Optional[str] = None) -> None:
        label_set = load_classes_yaml(classes or os.path.join(root, "classes.yaml"))
        sub = split if split not in (None, "", "all") else ""
        image_dir, label_dir = os.path.join(root, "images", sub), os.path.join(root, "labels", sub)
        images = []
        for dirpath, dirnames, filenames in os.walk(image_dir):
            dirnames.sort()
            images += [os.path.join(dirpath, n) for n in sorted(filenames)
                       if n.lower().endswith(IMAGE_SUFFIXES)]
        if not images:
            raise FileNotFoundError("no images: looked for {}/**/*{{{}}}; {}".format(
                image_dir.rstrip("/"), ",".join(IMAGE_SUFFIXES), _found(image_dir.rstrip("/"))))
        files, missing = [], []
        for path in images:
            rel = os.path.splitext(os.path.relpath(path, image_dir))[0] + ".png"
            target = os.path.join(label_dir, rel)
            (files if os.path.isfile(target) else missing).append((path, target))
        _check_labels("folder", [lab for _, lab in missing], len(images))
        super().__init__(files, label_set, transform, seed)

    def decode_label(self, path: str) -> np.ndarray:
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise FileNotFoundError("cannot read label {} (missing, or not an image file)".format(path))
        if raw.ndim == 3:  # colour-coded
            return color_to_train_id(cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2RGB), self.label_set.labels)
        if raw.dtype != np.uint8:
            raise ValueError("label {} is {}; expected 8-bit class ids or RGB colours".format(
                path, raw.dtype))
        bad = raw[(raw >= self.num_classes) & (raw != VOID)]
        if bad.size:
            raise ValueError("label {} contains class id {}; expected 0..{} or 255 (void) for the {} classes "
                             "of the class list".format(path, int(bad[0]), self.num_classes - 1,
                                                        self.num_classes))
        return raw


_SYNTHETIC_SEEDS = {"train": 0, "val": 100000, "test": 200000}

DATASETS = ("cityscapes", "camvid", "folder", "synthetic")


def build_dataset(name: str, root: Optional[str], split: str, transform: Optional[Callable] = None,
                  **kw: object) -> Dataset:
    """A dataset by name: cityscapes | camvid | folder | synthetic.

    ``kw`` goes to the dataset (e.g. ``seed``, CamVid's ``layout``, the folder's ``classes``).
    For synthetic, ``root`` is ignored and ``num`` (default 200), ``size`` (default (256, 512)) and
    ``seed`` (default 0 / 100000 / 200000 for train / val / test) choose the scenes."""
    key = str(name).lower()
    if key == "synthetic":
        options: Dict[str, object] = dict(kw)
        seed = options.pop("seed", _SYNTHETIC_SEEDS.get(split))
        if seed is None:
            raise ValueError("synthetic split {!r} has no default seed; pass seed= (defaults exist for {})"
                             .format(split, ", ".join(_SYNTHETIC_SEEDS)))
        size = tuple(options.pop("size", (256, 512)))
        return SyntheticDataset(int(options.pop("num", 200)), int(seed), size, transform=transform, **options)
    if key not in DATASETS:
        raise ValueError("unknown dataset {!r}; expected one of: {}".format(name, ", ".join(DATASETS)))
    if not root:
        raise ValueError("dataset {!r} needs a root folder".format(name))
    cls = {"cityscapes": Cityscapes, "camvid": CamVid, "folder": FolderDataset}[key]
    return cls(str(root), split, transform=transform, **kw)
