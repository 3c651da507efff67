"""colorize / overlay / class_fractions: exact values on small arrays."""

import numpy as np
import pytest

from swiftnet_ros.infer.visualize import UNKNOWN_COLOUR, VOID_COLOUR, class_fractions, colorize, overlay

PALETTE = np.array([[128, 64, 128], [244, 35, 232], [70, 70, 70]], np.uint8)
LABELS = np.array([[0, 1, 2, 255],
                   [2, 2, 1, 0]], np.uint8)


def test_colorize_looks_up_the_palette_and_paints_void_black():
    out = colorize(LABELS, PALETTE)
    assert out.shape == (2, 4, 3) and out.dtype == np.uint8
    expected = np.array([[PALETTE[0], PALETTE[1], PALETTE[2], [0, 0, 0]],
                         [PALETTE[2], PALETTE[2], PALETTE[1], PALETTE[0]]], np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_colorize_paints_ids_outside_the_palette_magenta_not_black_like_void():
    out = colorize(np.array([[3, 50, 254, 255]], np.uint8), PALETTE.tolist())  # list palettes work too
    np.testing.assert_array_equal(out[0, :3], [UNKNOWN_COLOUR] * 3)
    np.testing.assert_array_equal(out[0, 3], VOID_COLOUR)
    assert UNKNOWN_COLOUR != VOID_COLOUR


def test_overlay_blends_unknown_ids_as_magenta():
    image = np.zeros((1, 1, 3), np.uint8)
    np.testing.assert_array_equal(overlay(image, np.array([[50]], np.uint8), PALETTE, alpha=1.0)[0, 0],
                                  UNKNOWN_COLOUR)


def test_colorize_large_random_image_matches_per_pixel_indexing():
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, size=(19, 3), dtype=np.uint8)
    labels = rng.integers(0, 19, size=(64, 128), dtype=np.uint8)
    labels[rng.random(labels.shape) < 0.1] = 255
    out = colorize(labels, palette)
    for y, x in [(0, 0), (10, 77), (63, 127)] + [tuple(p) for p in np.argwhere(labels == 255)[:5]]:
        expected = [0, 0, 0] if labels[y, x] == 255 else palette[labels[y, x]]
        np.testing.assert_array_equal(out[y, x], expected)


def test_overlay_blends_by_alpha_and_keeps_void_pixels():
    image = np.full((2, 4, 3), 100, np.uint8)
    image[0, 3] = (1, 2, 3)  # the void pixel
    out = overlay(image, LABELS, PALETTE, alpha=0.25)
    expected = np.rint(0.75 * 100 + 0.25 * PALETTE[LABELS.clip(0, 2)].astype(np.float64)).astype(np.uint8)
    expected[0, 3] = (1, 2, 3)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(overlay(image, LABELS, PALETTE, alpha=0.0), image)
    full = overlay(image, LABELS, PALETTE, alpha=1.0)
    np.testing.assert_array_equal(full[1], colorize(LABELS, PALETTE)[1])
    np.testing.assert_array_equal(full[0, 3], (1, 2, 3))


def test_overlay_does_not_modify_its_inputs():
    image = np.full((2, 4, 3), 100, np.uint8)
    labels = LABELS.copy()
    overlay(image, labels, PALETTE, alpha=0.5)
    assert (image == 100).all() and (labels == LABELS).all()


def test_class_fractions_count_all_pixels_and_leave_out_void():
    fractions = class_fractions(LABELS, 3)
    assert fractions.dtype == np.float32 and fractions.shape == (3,)
    np.testing.assert_allclose(fractions, [2 / 8, 2 / 8, 3 / 8])
    assert fractions.sum() == pytest.approx(1 - 1 / 8)
    np.testing.assert_allclose(class_fractions(LABELS, 5), [2 / 8, 2 / 8, 3 / 8, 0, 0])
    assert class_fractions(np.full((3, 3), 255, np.uint8), 2).sum() == 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: colorize(LABELS.astype(np.int64), PALETTE), "uint8 label image"),
        (lambda: colorize(LABELS, PALETTE[:, :2]), "palette"),
        (lambda: colorize(LABELS, np.array([[0, 0, 300]])), "0..255"),
        (lambda: overlay(np.zeros((2, 3, 3), np.uint8), LABELS, PALETTE), "match the labels"),
        (lambda: overlay(np.zeros((2, 4, 3), np.uint8), LABELS, PALETTE, alpha=1.5), "alpha must lie in"),
        (lambda: class_fractions(LABELS, 0), "num_classes"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
