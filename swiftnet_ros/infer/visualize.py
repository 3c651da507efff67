"""Label images -> colour masks, overlays and per-class pixel fractions (pure numpy, no torch).

Used by the node for every frame, so each function is one vectorised pass: the palette lookup
is a 256-entry table indexed by the label image. Void (255) is black; an id that is neither a
class of the palette nor void (50 for a 19-class model: labels from another model, a bug) is
``UNKNOWN_COLOUR``, magenta, so that it shows instead of passing for void.
"""

import numpy as np

from swiftnet_ros.data.labels import VOID

UNKNOWN_COLOUR = (255, 0, 255)  # ids in num_classes..254: none of the palette's classes, not void
VOID_COLOUR = (0, 0, 0)


def _label_image(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype != np.uint8 or labels.ndim != 2:
        raise ValueError("expected an (H, W) uint8 label image, got {} {}".format(labels.dtype, labels.shape))
    return labels


def _palette(palette: np.ndarray) -> np.ndarray:
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or not 0 < palette.shape[0] <= VOID:
        raise ValueError("expected a (C, 3) palette with 1 <= C <= 255, got shape {}".format(palette.shape))
    if palette.dtype != np.uint8:
        if np.any(palette < 0) or np.any(palette > 255):
            raise ValueError("palette colours must lie in 0..255, got {}..{}".format(
                palette.min(), palette.max()))
        palette = palette.astype(np.uint8)
    return palette


def lookup_table(palette: np.ndarray) -> np.ndarray:
    """A (256, 3) uint8 table: palette colours for class ids, ``UNKNOWN_COLOUR`` for ids past the
    palette, ``VOID_COLOUR`` (black) for void."""
    palette = _palette(palette)
    table = np.empty((256, 3), np.uint8)
    table[:] = UNKNOWN_COLOUR
    table[:palette.shape[0]] = palette
    table[VOID] = VOID_COLOUR
    return table


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) uint8 class ids -> (H, W, 3) uint8 RGB; void (255) is black, an id past the palette
    magenta (``UNKNOWN_COLOUR``)."""
    return lookup_table(palette)[_label_image(labels)]


def overlay(image: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the colour mask over an (H, W, 3) uint8 image with weight ``alpha``; void keeps the image
    (an id past the palette is blended as magenta, as ``colorize`` paints it)."""
    labels = _label_image(labels)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != labels.shape + (3,):
        raise ValueError("expected a {} uint8 image to match the labels, got {} {}".format(
            labels.shape + (3,), image.dtype, image.shape))
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must lie in [0, 1], got {}".format(alpha))
    colour = lookup_table(palette)[labels].astype(np.float32)
    blended = image.astype(np.float32)
    blended += alpha * (colour - blended)
    out = np.rint(blended, out=blended).astype(np.uint8)
    void = labels == VOID
    if void.any():
        out[void] = image[void]
    return out


def class_fractions(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Fraction of ALL pixels per class, (C,) float32; sums to 1 minus the void (and unknown id) fraction."""
    labels = _label_image(labels)
    num_classes = int(num_classes)
    if not 0 < num_classes <= VOID:
        raise ValueError("num_classes must lie in 1..255, got {}".format(num_classes))
    counts = np.bincount(labels.ravel(), minlength=256)[:num_classes]
    return (counts / float(max(labels.size, 1))).astype(np.float32)
