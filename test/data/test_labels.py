"""Label tables: Cityscapes ids -> trainIds, CamVid 11 classes and the 32-class colour table."""

import subprocess
import sys

import numpy as np
import pytest

from swiftnet_ros.data.labels import (
    CAMVID32_LABELS,
    CAMVID_LABELS,
    CITYSCAPES_LABELS,
    VOID,
    LabelSet,
    color_to_train_id,
    get_label_set,
)

CITYSCAPES_19 = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                 "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                 "motorcycle", "bicycle"]


def test_cityscapes_label_set():
    s = get_label_set("cityscapes")
    assert s.name == "cityscapes" and s.num_classes == 19
    assert s.class_names == CITYSCAPES_19
    assert s.palette.shape == (19, 3) and s.palette.dtype == np.uint8
    assert s.palette[0].tolist() == [128, 64, 128] and s.palette[10].tolist() == [70, 130, 180]
    assert s.palette[13].tolist() == [0, 0, 142] and s.palette[18].tolist() == [119, 11, 32]
    lut = s.id_to_train_id
    assert lut.shape == (256,) and lut.dtype == np.uint8
    # labelIds -> trainIds of cityscapesScripts, all 34 stored ids
    expected = {0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255, 7: 0, 8: 1, 9: 255, 10: 255,
                11: 2, 12: 3, 13: 4, 14: 255, 15: 255, 16: 255, 17: 5, 18: 255, 19: 6, 20: 7, 21: 8,
                22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 255, 30: 255, 31: 16,
                32: 17, 33: 18}
    assert {i: int(lut[i]) for i in range(34)} == expected
    assert (lut[34:] == VOID).all()
    assert len(CITYSCAPES_LABELS) == 35  # 34 stored ids + license plate (id -1)


def test_camvid_label_set():
    s = get_label_set("CamVid")
    assert s.num_classes == 11
    assert s.class_names == ["Sky", "Building", "Pole", "Road", "Sidewalk", "Tree", "SignSymbol", "Fence",
                             "Car", "Pedestrian", "Bicyclist"]
    assert s.id_to_train_id[:12].tolist() == list(range(11)) + [255]
    assert (s.id_to_train_id[12:] == VOID).all()
    assert len(CAMVID_LABELS) == 12


def test_camvid32_table_maps_every_colour_to_the_11_classes():
    assert len(CAMVID32_LABELS) == 32
    colors = [label.color for label in CAMVID32_LABELS]
    assert len(set(colors)) == 32
    train_ids = {label.train_id for label in CAMVID32_LABELS}
    assert train_ids == set(range(11)) | {VOID}
    by_name = {label.name: label.train_id for label in CAMVID32_LABELS}
    assert by_name["LaneMkgsDriv"] == 3 and by_name["Wall"] == 1 and by_name["VegetationMisc"] == 5
    assert by_name["SUVPickupTruck"] == 8 and by_name["Child"] == 9 and by_name["Void"] == VOID
    # every 11-class colour is the colour of its same-named member of the 32-class table
    for label in CAMVID_LABELS[:11]:
        members = [lab for lab in CAMVID32_LABELS if lab.train_id == label.train_id]
        assert label.color in [m.color for m in members]


def test_color_to_train_id():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (128, 0, 192)  # LaneMkgsDriv -> Road
    rgb[0, 1] = (128, 128, 128)  # Sky
    rgb[0, 2] = (1, 2, 3)  # not in the table
    rgb[1, 0] = (64, 192, 0)  # Wall -> Building
    rgb[1, 1] = (0, 0, 0)  # Void
    rgb[1, 2] = (0, 128, 192)  # Bicyclist
    out = color_to_train_id(rgb, CAMVID32_LABELS)
    assert out.dtype == np.uint8
    assert out.tolist() == [[3, 0, 255], [1, 255, 10]]
    with pytest.raises(ValueError, match="H, W, 3"):
        color_to_train_id(np.zeros((2, 3), np.uint8), CAMVID32_LABELS)


def test_first_label_of_a_shared_colour_wins():
    rgb = np.array([[[0, 0, 142], [153, 153, 153]]], np.uint8)  # car / license plate, pole / polegroup
    assert color_to_train_id(rgb, CITYSCAPES_LABELS).tolist() == [[13, 5]]


def test_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="'kitti'.*cityscapes"):
        get_label_set("kitti")
    with pytest.raises(ValueError, match="2 class names but 1 colours"):
        LabelSet.from_classes("mine", ["a", "b"], [(1, 2, 3)])
    with pytest.raises(ValueError, match="300"):
        LabelSet.from_classes("mine", ["a"], [(1, 2, 300)])


def test_from_classes():
    s = LabelSet.from_classes("mine", ["ground", "object"], [(1, 2, 3), (4, 5, 6)])
    assert s.class_names == ["ground", "object"] and s.palette.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert s.id_to_train_id[:3].tolist() == [0, 1, 255]


def test_labels_module_does_not_import_torch():
    code = "import sys, swiftnet_ros.data.labels; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_check_palette_is_the_one_palette_check():
    from swiftnet_ros.data.labels import LABEL_SETS, check_palette

    assert LABEL_SETS == ("cityscapes", "camvid")
    colours = check_palette([[0, 0, 0], [255.0, 128, 7]], 2, "palette 'x'")
    assert colours.dtype == np.uint8 and colours.tolist() == [[0, 0, 0], [255, 128, 7]]
    with pytest.raises(ValueError, match=r"^palette 'x' has shape \(1, 3\); expected 2 colours \[r, g, b\]"):
        check_palette([[1, 2, 3]], 2, "palette 'x'")
    for bad in ([[1, 2, 300]], [[1, 2, 0.5]], [["a", "b", "c"]]):
        with pytest.raises(ValueError, match="^palette must hold integers in 0..255"):
            check_palette(bad, 1)
