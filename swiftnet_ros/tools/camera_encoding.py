"""RGB arrays -> sensor_msgs/Image fields in every encoding the node reads, as cameras send them.

The node decodes these encodings (``swiftnet_ros.ros.image_conversion``) but writes only rgb8 and
mono8; synthetic bags, tests and benchmarks need the camera side too, so the encoders live here.
"""

from typing import Any, Dict

import numpy as np

from swiftnet_ros.ros.image_conversion import BAYER_PATTERNS, encoding_layout, pack_fields


def _rgb_to_yuv422(rgb: np.ndarray, uyvy: bool) -> np.ndarray:
    """BT.601 limited range with each horizontal pair sharing the mean chroma (what cameras send)."""
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b
    u = (u[:, 0::2] + u[:, 1::2]) / 2.0
    v = (v[:, 0::2] + v[:, 1::2]) / 2.0
    y0, y1 = y[:, 0::2], y[:, 1::2]
    quad = np.stack([u, y0, v, y1] if uyvy else [y0, u, y1, v], axis=-1)
    return np.clip(np.rint(quad), 0, 255).astype(np.uint8).reshape(rgb.shape[0], rgb.shape[1], 2)


def _rgb_to_bayer(rgb: np.ndarray, pattern: str) -> np.ndarray:
    channel = {"r": 0, "g": 1, "b": 2}
    mosaic = np.empty(rgb.shape[:2], np.uint8)
    for index, letter in enumerate(pattern):
        dy, dx = divmod(index, 2)
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, channel[letter]]
    return mosaic


def rgb_to_image_fields(array_: np.ndarray, encoding: str = "rgb8", row_padding: int = 0) -> Dict[str, Any]:
    """Fields of a sensor_msgs/Image holding an (H, W, 3) uint8 RGB array in ``encoding``.

    Every encoding that image_to_rgb reads can be written (16-bit ones little-endian, each byte
    repeated); ``row_padding`` adds bytes to each row (``step``).
    """
    rgb = np.asarray(array_)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError("expected a non-empty (H, W, 3) uint8 RGB array, got {} {}".format(
            rgb.dtype, rgb.shape))
    family, channels, depth = encoding_layout(encoding)
    if row_padding < 0:
        raise ValueError("row_padding must be >= 0, got {}".format(row_padding))
    if channels == 2 and rgb.shape[1] % 2:
        raise ValueError("{} needs an even width, got {}".format(encoding, rgb.shape[1]))
    if family in ("uyvy", "yuyv"):
        pixels = _rgb_to_yuv422(rgb, uyvy=family == "uyvy")
    elif family in BAYER_PATTERNS:
        pixels = _rgb_to_bayer(rgb, family)
    elif family == "mono":
        gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        pixels = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    else:
        pixels = rgb[..., [2, 1, 0]] if family.startswith("bgr") else rgb
        if family in ("rgba", "bgra"):
            pixels = np.concatenate([pixels, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    if depth == 2:
        pixels = pixels.astype("<u2") * np.uint16(257)
    return pack_fields(pixels, encoding, row_padding)
