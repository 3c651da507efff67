"""sensor_msgs/Image and CompressedImage fields <-> numpy RGB arrays, without rclpy or cv_bridge.

The functions work on plain message fields so that they can be tested (and fuzzed) without ROS.
Every input is checked before a byte is read: an unknown encoding, a zero size, a row ``step``
shorter than a row, or ``data`` whose length is not ``step * height`` raises
``ImageConversionError`` with one clear message, so a malformed message can never make us read
past its buffer. Raw images are wrapped as numpy views of the message buffer (no copy) where the
encoding allows it (rgb8, bgr8, rgba8, bgra8, mono8); YUV 4:2:2 and Bayer images are converted
with OpenCV; 16-bit encodings keep their high byte.
The ROS 2 ``cv_bridge`` is not a dependency (it is not installable from PyPI). Camera encoders for
every encoding (what bags and tests send) are in ``swiftnet_ros.tools.camera_encoding``; the node
itself writes only rgb8 and mono8.
"""

import array
import numbers
from collections import namedtuple
from typing import Any, Dict, Tuple

import numpy as np


class ImageConversionError(ValueError):
    """A message that cannot be turned into an RGB image; the message says why."""


# how the pixels are coded, channels per pixel and bytes per channel of the packed rows in ``data``
_Layout = namedtuple("_Layout", "family channels depth")

_LAYOUTS = {
    "rgb8": _Layout("rgb", 3, 1),
    "bgr8": _Layout("bgr", 3, 1),
    "rgba8": _Layout("rgba", 4, 1),
    "bgra8": _Layout("bgra", 4, 1),
    "mono8": _Layout("mono", 1, 1),
    "yuv422": _Layout("uyvy", 2, 1),  # U0 Y0 V0 Y1
    "uyvy": _Layout("uyvy", 2, 1),  # newer ROS 2 name of yuv422
    "yuv422_yuy2": _Layout("yuyv", 2, 1),  # Y0 U0 Y1 V0
    "yuyv": _Layout("yuyv", 2, 1),  # newer ROS 2 name of yuv422_yuy2
    "bayer_rggb8": _Layout("rggb", 1, 1),
    "bayer_bggr8": _Layout("bggr", 1, 1),
    "bayer_gbrg8": _Layout("gbrg", 1, 1),
    "bayer_grbg8": _Layout("grbg", 1, 1),
    "rgb16": _Layout("rgb", 3, 2),
    "bgr16": _Layout("bgr", 3, 2),
    "rgba16": _Layout("rgba", 4, 2),
    "bgra16": _Layout("bgra", 4, 2),
    "mono16": _Layout("mono", 1, 2),
    "bayer_rggb16": _Layout("rggb", 1, 2),
    "bayer_bggr16": _Layout("bggr", 1, 2),
    "bayer_gbrg16": _Layout("gbrg", 1, 2),
    "bayer_grbg16": _Layout("grbg", 1, 2),
}

SUPPORTED_ENCODINGS = tuple(_LAYOUTS)

# OpenCV names a Bayer pattern after the second row's 2nd and 3rd pixels, so ROS's rggb is its BG.
_BAYER_CODES = {"rggb": "COLOR_BayerBG2RGB", "bggr": "COLOR_BayerRG2RGB",
                "gbrg": "COLOR_BayerGR2RGB", "grbg": "COLOR_BayerGB2RGB"}
BAYER_PATTERNS = tuple(_BAYER_CODES)  # pixel families of the Bayer encodings, row by row

# A compressed image whose header declares more pixels than this is refused before decoding.
MAX_COMPRESSED_PIXELS = 1 << 26

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8\xff"


def _cv2() -> Any:
    """OpenCV, imported only by the encodings that need it."""
    try:
        import cv2
    except ImportError as exc:
        raise ImageConversionError("this encoding needs OpenCV (cv2): {}".format(exc)) from None
    return cv2


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ImageConversionError("{} must be an integer, got {!r}".format(name, value))
    return int(value)


def _byte_view(data: Any) -> memoryview:
    """The bytes of ``data`` as a flat memoryview (no copy)."""
    try:
        view = memoryview(data)
    except TypeError:
        msg = "data must be a bytes-like object, got {}".format(type(data).__name__)
        raise ImageConversionError(msg) from None
    if not view.c_contiguous:
        raise ImageConversionError("data must be a contiguous buffer")
    return view.cast("B") if view.ndim != 1 or view.format != "B" else view


def encoding_layout(encoding: Any) -> Tuple[str, int, int]:
    """(pixel family such as "rgb", "uyvy" or "rggb", channels per pixel, bytes per channel)."""
    if not isinstance(encoding, str) or encoding not in _LAYOUTS:
        raise ImageConversionError("unsupported encoding {!r}; expected one of: {}".format(
            encoding, ", ".join(SUPPORTED_ENCODINGS)))
    return _LAYOUTS[encoding]


def check_image(encoding: Any, height: Any, width: Any, step: Any, data_length: int,
                is_bigendian: Any = 0) -> Tuple[int, int]:
    """Validate the fields of a raw image without touching its data; return (channels, depth).

    Cheap enough for a subscription callback: it decides whether a frame is worth keeping.
    """
    _, channels, depth = encoding_layout(encoding)
    height = _as_int("height", height)
    width = _as_int("width", width)
    step = _as_int("step", step)
    if height <= 0 or width <= 0:
        raise ImageConversionError("image size {}x{} (width x height) is empty; expected both > 0".format(
            width, height))
    if not isinstance(is_bigendian, numbers.Integral) or is_bigendian not in (0, 1):
        raise ImageConversionError("is_bigendian is {!r}; expected 0 or 1".format(is_bigendian))
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageConversionError("step {} is shorter than one {} row of width {} ({} bytes)".format(
            step, encoding, width, row_bytes))
    if data_length != step * height:
        raise ImageConversionError("data has {} bytes; expected step * height = {} * {} = {}".format(
            data_length, step, height, step * height))
    if channels == 2 and width % 2:
        raise ImageConversionError("{} needs an even width, got {}".format(encoding, width))
    return channels, depth


def image_to_rgb(encoding: str, height: int, width: int, step: int, data: Any,
                 is_bigendian: int = 0) -> np.ndarray:
    """Return the image as an (H, W, 3) uint8 RGB array; a view of ``data`` where possible.

    The result may be read-only or non-contiguous (a view); copy it before writing into it.
    """
    buffer = _byte_view(data)
    channels, depth = check_image(encoding, height, width, step, buffer.nbytes, is_bigendian)
    height, width, step = int(height), int(width), int(step)
    if depth == 1:
        pixels = np.ndarray(shape=(height, width, channels), dtype=np.uint8, buffer=buffer,
                            strides=(step, channels, 1))
    else:
        words = np.ndarray(shape=(height, width, channels), dtype=">u2" if is_bigendian else "<u2",
                           buffer=buffer, strides=(step, channels * 2, 2))
        pixels = (words >> 8).astype(np.uint8)
    return _pixels_to_rgb(_LAYOUTS[encoding].family, pixels)


def _pixels_to_rgb(family: str, pixels: np.ndarray) -> np.ndarray:
    if family == "rgb":
        return pixels
    if family == "bgr":
        return pixels[:, :, ::-1]
    if family == "rgba":
        return pixels[:, :, :3]
    if family == "bgra":
        return pixels[:, :, 2::-1]
    if family == "mono":
        return np.broadcast_to(pixels, pixels.shape[:2] + (3,))
    cv2 = _cv2()
    if family == "uyvy":
        return cv2.cvtColor(pixels, cv2.COLOR_YUV2RGB_UYVY)
    if family == "yuyv":
        return cv2.cvtColor(pixels, cv2.COLOR_YUV2RGB_YUY2)
    return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), getattr(cv2, _BAYER_CODES[family]))


def _compressed_kind(format: Any) -> str:
    if not isinstance(format, str):
        raise ImageConversionError("compressed format must be a string, got {!r}".format(format))
    text = format.lower()
    if "compresseddepth" in text:
        raise ImageConversionError("compressed format {!r} is a depth image; expected jpeg or png".format(
            format))
    if "jpeg" in text or "jpg" in text:
        return "jpeg"
    if "png" in text:
        return "png"
    raise ImageConversionError("unsupported compressed format {!r}; expected jpeg or png".format(format))


def _png_size(data: memoryview) -> Tuple[int, int]:
    if len(data) < 24 or bytes(data[12:16]) != b"IHDR":
        raise ImageConversionError("PNG data has no IHDR header")
    return int.from_bytes(data[20:24], "big"), int.from_bytes(data[16:20], "big")


_JPEG_FRAME_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


def _jpeg_size(data: memoryview) -> Tuple[int, int]:
    """Walk the JPEG markers up to the frame header (SOFn) and read its size."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageConversionError("JPEG data is corrupt: no marker at byte {}".format(pos))
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            raise ImageConversionError("JPEG data is corrupt: segment length {} at byte {}".format(
                length, pos))
        if marker in _JPEG_FRAME_MARKERS and pos + 9 <= len(data):
            return int.from_bytes(data[pos + 5:pos + 7], "big"), int.from_bytes(data[pos + 7:pos + 9], "big")
        if marker == 0xDA:  # start of scan
            break
        pos += 2 + length
    raise ImageConversionError("JPEG data has no frame header (SOF) before the image data")


def check_compressed(format: Any, data: Any) -> Tuple[str, int, int]:
    """Validate a compressed image from its format and header only; return (kind, height, width).

    The content must really be JPEG or PNG (no other decoder sees untrusted bytes) and must declare
    at most MAX_COMPRESSED_PIXELS, so a tiny message cannot make the decoder allocate gigabytes.
    """
    kind = _compressed_kind(format)
    buffer = _byte_view(data)
    if buffer.nbytes == 0:
        raise ImageConversionError("compressed image has no data")
    head = bytes(buffer[:8])
    if head == _PNG_SIGNATURE:
        height, width = _png_size(buffer)
    elif head.startswith(_JPEG_SOI):
        height, width = _jpeg_size(buffer)
    else:
        raise ImageConversionError("compressed data ({} bytes) is neither JPEG nor PNG (format {!r})".format(
            buffer.nbytes, format))
    if height <= 0 or width <= 0:
        raise ImageConversionError("compressed image declares an empty size {}x{}".format(width, height))
    if height * width > MAX_COMPRESSED_PIXELS:
        raise ImageConversionError("compressed image declares {}x{} pixels; expected at most {}".format(
            width, height, MAX_COMPRESSED_PIXELS))
    return kind, height, width


def compressed_to_rgb(format: str, data: Any) -> np.ndarray:
    """Decode a JPEG or PNG sensor_msgs/CompressedImage to an (H, W, 3) uint8 RGB array."""
    kind, height, width = check_compressed(format, data)
    cv2 = _cv2()
    buffer = np.frombuffer(_byte_view(data), dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageConversionError("could not decode {} bytes as {}: {}".format(
            buffer.size, kind, " ".join(str(exc).split())[-200:])) from None
    if bgr is None or bgr.ndim != 3 or bgr.shape[:2] != (height, width):
        raise ImageConversionError("could not decode {} bytes as a {}x{} {} image".format(
            buffer.size, width, height, kind))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def pack_fields(pixels: np.ndarray, encoding: str, row_padding: int = 0) -> Dict[str, Any]:
    """Fields of a sensor_msgs/Image whose rows are ``pixels`` (H, W[, C]) packed, plus ``row_padding``.

    ``data`` is an ``array.array('B')``: rclpy takes it without checking every byte.
    """
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1).view(np.uint8)
    if row_padding:
        row = np.concatenate([row, np.zeros((height, row_padding), np.uint8)], axis=1)
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(row).tobytes())
    return {"height": int(height), "width": int(width), "encoding": encoding, "is_bigendian": 0,
            "step": int(row.shape[1]), "data": data}


def rgb8_fields(rgb: np.ndarray) -> Dict[str, Any]:
    """Fields of an rgb8 sensor_msgs/Image holding an (H, W, 3) uint8 array (colour, overlay)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise ValueError("expected a non-empty (H, W, 3) uint8 RGB array, got {} {}".format(
            rgb.dtype, rgb.shape))
    return pack_fields(rgb, "rgb8")


def mono8_fields(labels: np.ndarray, row_padding: int = 0) -> Dict[str, Any]:
    """Fields of a mono8 sensor_msgs/Image holding an (H, W) uint8 label image."""
    labels = np.asarray(labels)
    if labels.dtype != np.uint8 or labels.ndim != 2 or labels.size == 0:
        raise ValueError("expected a non-empty (H, W) uint8 label image, got {} {}".format(
            labels.dtype, labels.shape))
    return pack_fields(labels, "mono8", row_padding)


def fill_image(msg: Any, fields: Dict[str, Any]) -> Any:
    """Copy a fields dict (from rgb8_fields / mono8_fields) into a sensor_msgs/Image."""
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg
