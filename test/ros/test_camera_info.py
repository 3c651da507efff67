"""camera_info at the labels' size: K and P scaled (exactly halved at half size), ROI and binning folded
in, D / R / model unchanged; the buffer picks the image's stamp, else the newest."""

from types import SimpleNamespace

import numpy as np
import pytest

from swiftnet_ros.ros.camera_info import (
    Calibration,
    CalibrationBuffer,
    fill_message,
    from_message,
    scale_calibration,
)

K = [2262.52, 0.0, 1096.98, 0.0, 2265.30, 513.137, 0.0, 0.0, 1.0]  # a Cityscapes camera
P = [2262.52, 0.0, 1096.98, -490.0, 0.0, 2265.30, 513.137, 0.0, 0.0, 0.0, 1.0, 0.0]
D = [-0.1, 0.02, 0.001, -0.002, 0.0]
R = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def camera(**changes):
    values = dict(width=2048, height=1024, distortion_model="plumb_bob", d=D, k=K, r=R, p=P)
    values.update(changes)
    return Calibration(**values)


def project(k, point):
    u = k[0] * point[0] + k[1] * point[1] + k[2] * point[2]
    v = k[4] * point[1] + k[5] * point[2]
    return np.array([u, v]) / point[2]


def test_half_size_halves_fx_fy_cx_cy_exactly_and_keeps_the_rest():
    scaled = scale_calibration(camera(), 1024, 512)
    assert (scaled.width, scaled.height) == (1024, 512)
    assert scaled.k[0] == K[0] / 2 and scaled.k[4] == K[4] / 2
    assert scaled.k[2] == K[2] / 2 and scaled.k[5] == K[5] / 2 and scaled.k[8] == 1.0
    assert scaled.p[0] == P[0] / 2 and scaled.p[5] == P[5] / 2 and scaled.p[2] == P[2] / 2
    assert scaled.p[6] == P[6] / 2 and scaled.p[3] == P[3] / 2 and scaled.p[10] == 1.0
    assert (scaled.d, scaled.r, scaled.distortion_model) == (D, R, "plumb_bob")
    assert (scaled.binning_x, scaled.binning_y, scaled.roi) == (0, 0, (0, 0, 0, 0))


def test_same_size_is_unchanged_and_anisotropic_sizes_scale_each_axis():
    assert scale_calibration(camera(), 2048, 1024) == camera()
    scaled = scale_calibration(camera(), 512, 512)
    assert scaled.k[0] == K[0] / 4 and scaled.k[2] == K[2] / 4
    assert scaled.k[4] == K[4] / 2 and scaled.k[5] == K[5] / 2


def test_roi_and_binning_are_folded_into_k_so_points_land_on_the_same_labels_pixel():
    # a 1024x512 ROI at (512, 256) read out with 2x2 binning: a 512x256 image, labels at 256x128
    cam = camera(binning_x=2, binning_y=2, roi=(512, 256, 512, 1024))
    scaled = scale_calibration(cam, 256, 128)
    assert (scaled.roi, scaled.binning_x, scaled.binning_y) == ((0, 0, 0, 0), 0, 0)
    point = (0.3, -0.1, 4.0)
    full = project(K, point)  # in calibration pixels
    expected = (full - [512, 256]) * [256 / 1024, 128 / 512]
    np.testing.assert_allclose(project(scaled.k, point), expected, rtol=1e-12)
    np.testing.assert_allclose(project(scaled.p[:3] + scaled.p[4:7] + scaled.p[8:11], point), expected,
                               rtol=1e-12)


def test_bad_sizes_are_refused_with_the_sizes():
    with pytest.raises(ValueError, match="camera_info of size 0x0"):
        scale_calibration(camera(width=0, height=0), 64, 32)


def test_message_round_trip():
    roi = SimpleNamespace(x_offset=1, y_offset=2, height=3, width=4, do_rectify=True)
    msg = SimpleNamespace(width=640, height=480, distortion_model="equidistant", d=D[:4], k=K, r=R, p=P,
                          binning_x=2, binning_y=1, roi=roi)
    cal = from_message(msg)
    assert cal.roi == (1, 2, 3, 4) and cal.roi_do_rectify and cal.d == D[:4]
    out = SimpleNamespace(roi=SimpleNamespace())
    fill_message(out, cal)
    assert from_message(out) == cal


def test_buffer_matches_the_stamp_else_the_newest_and_keeps_only_size():
    buffer = CalibrationBuffer(size=3)
    assert buffer.match((1, 0)) is None
    for sec in range(5):
        buffer.add((sec, 7), "info{}".format(sec))
    assert buffer.match((3, 7)) == "info3"
    assert buffer.match((9, 0)) == "info4"  # no match: the newest
    assert buffer.match((0, 7)) == "info4"  # dropped (size 3)
    buffer.add((2, 7), "again")
    assert buffer.match((100, 0)) == "again"
    buffer.clear()
    assert buffer.match((2, 7)) is None
    with pytest.raises(ValueError, match="size must be >= 1"):
        CalibrationBuffer(0)
