"""Dataset readers on small fake trees laid out exactly like the real datasets."""

import os

import cv2
import numpy as np
import pytest
import torch

from swiftnet_ros.data.datasets import CamVid, Cityscapes, FolderDataset, build_dataset
from swiftnet_ros.data.labels import CAMVID32_LABELS, VOID
from swiftnet_ros.data.synthetic import SyntheticDataset, make_scene
from swiftnet_ros.data.transforms import train_transform

H, W = 6, 8


def write(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if array.ndim == 3:
        array = array[..., ::-1]  # RGB -> BGR for cv2
    assert cv2.imwrite(str(path), np.ascontiguousarray(array))


def rgb(seed):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def ids(*values):
    label = np.zeros((H, W), np.uint8)
    for i, v in enumerate(values):
        label[i] = v
    return label


@pytest.fixture
def cityscapes(tmp_path):
    root = tmp_path / "cityscapes"
    # aachen: only *_labelIds (mapped through the table); bochum: *_labelTrainIds too (preferred)
    for city, n in (("aachen", 2), ("bochum", 1)):
        for i in range(n):
            stem = "{}_{:06d}_000019".format(city, i)
            gt = root / "gtFine" / "train" / city
            write(root / "leftImg8bit" / "train" / city / (stem + "_leftImg8bit.png"), rgb(i))
            write(gt / (stem + "_gtFine_labelIds.png"), ids(7, 26, 0, 33, 9, 24))
            if city == "bochum":
                write(gt / (stem + "_gtFine_labelTrainIds.png"), ids(5, 255, 18))
            write(gt / (stem + "_gtFine_color.png"), rgb(9))  # ignored
    return root


def test_cityscapes_reads_label_ids_and_prefers_train_ids(cityscapes):
    ds = Cityscapes(str(cityscapes), "train")
    assert len(ds) == 3 and ds.num_classes == 19 and ds.class_names[13] == "car"
    assert [os.path.basename(f[0]) for f in ds.files] == [
        "aachen_000000_000019_leftImg8bit.png", "aachen_000001_000019_leftImg8bit.png",
        "bochum_000000_000019_leftImg8bit.png"]
    image, label = ds[0]
    assert image.shape == (3, H, W) and image.dtype == torch.float32
    assert torch.equal(image, torch.from_numpy(rgb(0)).permute(2, 0, 1).float())  # RGB, 0-255
    # labelIds road 7 -> 0, car 26 -> 13, unlabeled 0 -> void, bicycle 33 -> 18, parking 9 -> void,
    # person 24 -> 11
    assert label[:, 0].tolist() == [0, 13, VOID, 18, VOID, 11] and label.dtype == torch.int64
    _, label = ds[2]
    assert label[:, 0].tolist() == [5, VOID, 18, 0, 0, 0]  # from *_labelTrainIds.png


def test_cityscapes_errors_say_what_was_looked_for_and_found(cityscapes, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"leftImg8bit/val/<city>/\*_leftImg8bit.png.*"
                                                r"val does not exist.*leftImg8bit has: train/"):
        Cityscapes(str(cityscapes), "val")
    os.makedirs(cityscapes / "leftImg8bit" / "val" / "empty_city")
    with pytest.raises(FileNotFoundError, match=r"no Cityscapes images.*has: empty_city/"):
        Cityscapes(str(cityscapes), "val")
    os.remove(cityscapes / "gtFine" / "train" / "aachen" / "aachen_000001_000019_gtFine_labelIds.png")
    with pytest.raises(FileNotFoundError, match=r"1 of 3 Cityscapes images have no label: looked for "
                                                r".*aachen_000001_000019_gtFine_labelIds.png"):
        Cityscapes(str(cityscapes), "train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Cityscapes(str(tmp_path / "nowhere"), "train")


def test_camvid_segnet_layout(tmp_path):
    root = tmp_path / "CamVid"
    splits = (("train", ["0001TP_006690.png", "0006R0_f00930.png"]), ("test", ["Seq05VD_f00000.png"]))
    for split, names in splits:
        for i, name in enumerate(names):
            write(root / split / name, rgb(i))
            write(root / (split + "annot") / name, ids(0, 3, 11, 10, 8, 12))
    ds = CamVid(str(root), "train")
    assert ds.layout == "segnet" and len(ds) == 2 and ds.num_classes == 11
    image, label = ds[1]
    assert image.shape == (3, H, W)
    assert label[:, 0].tolist() == [0, 3, VOID, 10, 8, VOID]  # 11 = Unlabelled -> void
    assert len(build_dataset("camvid", str(root), "test")) == 1
    os.remove(root / "trainannot" / "0006R0_f00930.png")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 CamVid images have no label.*trainannot"):
        CamVid(str(root), "train")
    with pytest.raises(FileNotFoundError, match=r"looked for val/ with valannot/.*701_StillsRaw_full.*"
                                                r"has: test/"):
        CamVid(str(root), "val")


def camvid32(*names):
    """A colour-coded label of the original release; row i has the colour of CamVid class names[i]."""
    colors = {lab.name: lab.color for lab in CAMVID32_LABELS}
    label = np.zeros((H, W, 3), np.uint8)
    for i, name in enumerate(names):
        label[i] = colors[name]
    return label


def test_camvid_original_release(tmp_path):
    root = tmp_path / "camvid_original"
    stems = ["0001TP_006690", "0001TP_006720", "0016E5_07959"]
    for i, stem in enumerate(stems):
        write(root / "701_StillsRaw_full" / (stem + ".png"), rgb(i))
        write(root / "LabeledApproved_full" / (stem + "_L.png"),
              camvid32("Sky", "LaneMkgsDriv", "Wall", "Void", "SUVPickupTruck", "Child"))
    # SegNet's list format works as is: "<image path> <annotation path>"
    (root / "train.txt").write_text("".join(
        "/SegNet/CamVid/train/{0}.png /SegNet/CamVid/trainannot/{0}.png\n".format(s)
        for s in ("0001TP_006690", "0016E5_07959")))
    os.makedirs(root / "splits")
    (root / "splits" / "val.txt").write_text("0001TP_006720\n")
    ds = CamVid(str(root), "train")
    assert ds.layout == "original" and [os.path.basename(f[1]) for f in ds.files] == [
        "0001TP_006690_L.png", "0016E5_07959_L.png"]
    _, label = ds[0]
    # Sky -> Sky, LaneMkgsDriv -> Road, Wall -> Building, Void -> void, SUVPickupTruck -> Car,
    # Child -> Pedestrian
    assert label[:, 0].tolist() == [0, 3, 1, VOID, 8, 9]
    assert len(CamVid(str(root), "val")) == 1 and len(CamVid(str(root), "all")) == 3
    with pytest.raises(FileNotFoundError, match=r"no 'test' split: looked for .*test.txt or "
                                                r".*splits/test.txt"):
        CamVid(str(root), "test")
    (root / "splits" / "val.txt").write_text("0001TP_999999\n")
    with pytest.raises(FileNotFoundError, match=r"1 of them not in .*701_StillsRaw_full.*0001TP_999999"):
        CamVid(str(root), "val")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mine"
    (root).mkdir()
    (root / "classes.yaml").write_text("name: robot\nclasses:\n"
                                       "  - {name: floor, color: [128, 64, 128]}\n"
                                       "  - {name: wall, color: [70, 70, 70]}\n"
                                       "  - {name: person, color: [220, 20, 60]}\n")
    write(root / "images" / "train" / "a.jpg", rgb(0))
    write(root / "labels" / "train" / "a.png", ids(0, 1, 2, 255))
    write(root / "images" / "train" / "sub" / "b.png", rgb(1))
    label = np.zeros((H, W, 3), np.uint8)
    label[:] = (128, 64, 128)
    label[0], label[1], label[2] = (70, 70, 70), (220, 20, 60), (1, 2, 3)  # colour-coded; unknown -> void
    write(root / "labels" / "train" / "sub" / "b.png", label)
    return root


def test_folder_dataset(folder):
    ds = FolderDataset(str(folder), "train")
    assert len(ds) == 2 and ds.class_names == ["floor", "wall", "person"] and ds.label_set.name == "robot"
    assert ds.palette.tolist() == [[128, 64, 128], [70, 70, 70], [220, 20, 60]]
    image, label = ds[0]
    assert image.shape == (3, H, W) and label[:, 0].tolist() == [0, 1, 2, VOID, 0, 0]
    _, label = ds[1]
    assert label[:, 0].tolist() == [1, 2, VOID, 0, 0, 0]
    assert len(build_dataset("folder", str(folder), "train")) == 2


def test_folder_dataset_errors(folder):
    with pytest.raises(FileNotFoundError, match=r"no images: looked for .*images/val.*"
                                                r"val does not exist.*has: train/"):
        FolderDataset(str(folder), "val")
    write(folder / "labels" / "train" / "a.png", ids(0, 7))
    with pytest.raises(ValueError, match=r"a.png contains class id 7; expected 0..2 or 255"):
        FolderDataset(str(folder), "train")[0]
    os.remove(folder / "labels" / "train" / "a.png")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 folder images have no label: "
                                                r"looked for .*labels/train/a.png"):
        FolderDataset(str(folder), "train")
    (folder / "classes.yaml").write_text("- floor\n- wall\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        FolderDataset(str(folder), "train")
    os.remove(folder / "classes.yaml")
    with pytest.raises(FileNotFoundError, match=r"no class list: looked for .*classes.yaml"):
        FolderDataset(str(folder), "train")


def test_build_dataset_synthetic_and_errors(tmp_path):
    ds = build_dataset("synthetic", None, "val", num=2, size=(32, 64))
    assert isinstance(ds, SyntheticDataset) and len(ds) == 2 and ds.seed == 100000 and ds.num_classes == 19
    assert np.array_equal(ds[1][1].numpy(), make_scene(100001, (32, 64))[1])
    assert build_dataset("synthetic", None, "train", num=1, seed=424242, size=(32, 64)).seed == 424242
    with pytest.raises(ValueError, match="no default seed"):
        build_dataset("synthetic", None, "extra", num=1)
    with pytest.raises(ValueError, match="unknown dataset 'kitti'; expected one of: cityscapes, camvid"):
        build_dataset("kitti", str(tmp_path), "train")
    with pytest.raises(ValueError, match="needs a root folder"):
        build_dataset("cityscapes", None, "train")


def test_transform_is_applied_and_seeded(cityscapes):
    ds = build_dataset("cityscapes", str(cityscapes), "train", transform=train_transform((4, 5)), seed=3)
    a, b = ds[0], ds[0]
    assert a[0].shape == (3, 4, 5) and a[1].shape == (4, 5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    outs = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        outs.add(ds[0][0].numpy().tobytes())
    assert len(outs) > 1
