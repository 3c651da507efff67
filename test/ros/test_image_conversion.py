"""Image conversion against independent references (OpenCV cvtColor, BT.601 formulas, hand-made mosaics)."""

import array
import struct
import zlib

import cv2
import numpy as np
import pytest

from swiftnet_ros.ros.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    check_image,
    compressed_to_rgb,
    image_to_rgb,
    mono8_fields,
)
from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

RNG = np.random.default_rng(1234)
RGB = RNG.integers(0, 256, size=(6, 10, 3), dtype=np.uint8)


def pad_rows(packed: np.ndarray, padding: int, fill: int = 0xAB) -> bytes:
    """Rows of ``packed`` (H, row_bytes) followed by ``padding`` junk bytes each."""
    rows = packed.reshape(packed.shape[0], -1)
    junk = np.full((rows.shape[0], padding), fill, np.uint8)
    return np.concatenate([rows.view(np.uint8), junk], axis=1).tobytes()


def convert(encoding, packed, padding=0, is_bigendian=0, height=None, width=None):
    height = packed.shape[0] if height is None else height
    width = packed.shape[1] if width is None else width
    data = pad_rows(packed, padding)
    return image_to_rgb(encoding, height, width, len(data) // height, data, is_bigendian)


@pytest.mark.parametrize("padding", [0, 7])
@pytest.mark.parametrize(
    "encoding, reference",
    [
        ("rgb8", lambda rgb: rgb),
        ("bgr8", lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)),
        ("rgba8", lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)),
        ("bgra8", lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)),
    ],
)
def test_colour_encodings_match_opencv(encoding, reference, padding):
    packed = reference(RGB)
    np.testing.assert_array_equal(convert(encoding, packed, padding), RGB)


@pytest.mark.parametrize("padding", [0, 3])
def test_mono8_is_grey_in_all_channels(padding):
    grey = cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(convert("mono8", grey, padding), cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))


def test_packed_encodings_are_views_of_the_message_buffer():
    for encoding, packed in [("rgb8", RGB), ("bgr8", RGB[..., ::-1]), ("mono8", RGB[..., 0])]:
        data = bytearray(pad_rows(np.ascontiguousarray(packed), 5))
        out = image_to_rgb(encoding, RGB.shape[0], RGB.shape[1], len(data) // RGB.shape[0], data)
        assert np.shares_memory(out, np.frombuffer(data, np.uint8)), encoding


def test_accepts_rclpy_array_bytes_memoryview_and_numpy():
    raw = RGB.tobytes()
    buffers = (raw, bytearray(raw), memoryview(raw), array.array("B", raw), RGB, np.frombuffer(raw, np.uint8))
    for data in buffers:
        np.testing.assert_array_equal(image_to_rgb("rgb8", 6, 10, 30, data), RGB)


def bt601_from_yuv(y, u, v):
    """Limited-range BT.601 YUV -> RGB, the formula OpenCV documents for YUV 4:2:2."""
    y = 1.164 * (y.astype(np.float64) - 16)
    u = u.astype(np.float64) - 128
    v = v.astype(np.float64) - 128
    rgb = np.stack([y + 1.596 * v, y - 0.813 * v - 0.391 * u, y + 2.018 * u], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
@pytest.mark.parametrize("padding", [0, 6])
def test_yuv422_matches_bt601_reference(encoding, padding):
    quads = RNG.integers(16, 236, size=(4, 5, 4), dtype=np.uint8)  # 5 pixel pairs per row
    uyvy = encoding in ("yuv422", "uyvy")
    if uyvy:
        u, y0, v, y1 = (quads[..., i] for i in range(4))
    else:
        y0, u, y1, v = (quads[..., i] for i in range(4))
    expected = np.empty((4, 10, 3), np.uint8)
    expected[:, 0::2] = bt601_from_yuv(y0, u, v)
    expected[:, 1::2] = bt601_from_yuv(y1, u, v)
    out = convert(encoding, quads.reshape(4, 10, 2), padding)
    assert out.shape == (4, 10, 3)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 2


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_pattern_recovers_a_flat_colour(pattern, bits):
    colour = np.array([200, 90, 30], np.uint16)
    mosaic = np.empty((6, 8), np.uint16)
    for index, letter in enumerate(pattern):
        dy, dx = divmod(index, 2)
        mosaic[dy::2, dx::2] = colour["rgb".index(letter)]
    if bits == 16:
        mosaic = (mosaic << 8) | 0x5A  # low byte is dropped
    packed = mosaic.astype("<u2" if bits == 16 else np.uint8)
    out = convert("bayer_{}{}".format(pattern, bits), packed, padding=4)
    np.testing.assert_array_equal(out[2:-2, 2:-2], np.broadcast_to(colour.astype(np.uint8), (2, 4, 3)))


@pytest.mark.parametrize("is_bigendian", [0, 1])
@pytest.mark.parametrize("encoding, channels", [("rgb16", 3), ("bgr16", 3), ("rgba16", 4), ("bgra16", 4),
                                                ("mono16", 1)])
def test_16_bit_encodings_honour_endianness(encoding, channels, is_bigendian):
    high = RNG.integers(0, 256, size=(3, 4, channels), dtype=np.uint16)
    words = (high << 8) | RNG.integers(0, 256, size=high.shape, dtype=np.uint16)
    packed = words.astype(">u2" if is_bigendian else "<u2")
    out = convert(encoding, packed, padding=2, is_bigendian=is_bigendian)
    high = high.astype(np.uint8)
    expected = {"rgb16": high, "bgr16": high[..., ::-1], "rgba16": high[..., :3], "bgra16": high[..., 2::-1],
                "mono16": np.repeat(high, 3, axis=2)}[encoding]
    np.testing.assert_array_equal(out, expected)
    wrong = convert(encoding, packed, padding=2, is_bigendian=1 - is_bigendian)
    assert not np.array_equal(wrong, expected)


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_fields_round_trip_every_encoding(encoding):
    flat = np.zeros((6, 10, 3), np.uint8)
    flat[:] = (120, 60, 200)
    fields = rgb_to_image_fields(flat, encoding, row_padding=3)
    assert isinstance(fields["data"], array.array) and fields["data"].typecode == "B"
    assert fields["encoding"] == encoding and (fields["height"], fields["width"]) == (6, 10)
    assert len(fields["data"]) == fields["step"] * 6
    out = image_to_rgb(fields["encoding"], fields["height"], fields["width"], fields["step"], fields["data"],
                       fields["is_bigendian"])
    if encoding.startswith("mono"):
        expected = np.full((6, 10, 3), round(0.299 * 120 + 0.587 * 60 + 0.114 * 200), np.uint8)
    else:
        expected = flat
    assert np.abs(out.astype(int) - expected).max() <= 2, encoding


def test_mono8_fields_and_rgb8_fields_layout():
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    fields = mono8_fields(labels)
    assert (fields["encoding"], fields["step"], bytes(fields["data"])) == ("mono8", 4, labels.tobytes())
    fields = rgb_to_image_fields(RGB)
    assert (fields["step"], fields["is_bigendian"], bytes(fields["data"])) == (30, 0, RGB.tobytes())
    with pytest.raises(ValueError, match="uint8"):
        mono8_fields(labels.astype(np.int32))
    with pytest.raises(ValueError, match="'rgb9'"):
        rgb_to_image_fields(RGB, "rgb9")


@pytest.mark.parametrize(
    "fields, message",
    [
        (("rgb9", 2, 2, 6, 12, 0), "unsupported encoding 'rgb9'"),
        (("", 2, 2, 6, 12, 0), "unsupported encoding ''"),
        ((None, 2, 2, 6, 12, 0), "unsupported encoding None"),
        (("rgb8", 0, 2, 6, 0, 0), "empty"),
        (("rgb8", 2, 0, 0, 0, 0), "empty"),
        (("rgb8", -2, 2, 6, 12, 0), "empty"),
        (("rgb8", 2, 2, 5, 10, 0), "step 5 is shorter"),
        (("rgb8", 2, 2, 6, 11, 0), "data has 11 bytes; expected step \\* height = 6 \\* 2 = 12"),
        (("rgb8", 2, 2, 6, 13, 0), "data has 13 bytes"),
        (("rgb8", 100000, 100000, 300000, 64, 0), "data has 64 bytes"),
        (("yuv422", 2, 3, 6, 12, 0), "even width, got 3"),
        (("yuv422_yuy2", 2, 3, 6, 12, 0), "even width"),
        (("rgb16", 1, 1, 6, 6, 2), "is_bigendian is 2"),
        (("rgb8", "2", 2, 6, 12, 0), "height must be an integer, got '2'"),
        (("rgb8", 2, 2.0, 6, 12, 0), "width must be an integer"),
    ],
)
def test_malformed_fields_raise_one_clear_error(fields, message):
    encoding, height, width, step, length, bigendian = fields
    with pytest.raises(ImageConversionError, match=message):
        check_image(encoding, height, width, step, length, bigendian)
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(encoding, height, width, step, bytes(length), bigendian)


def test_non_buffer_data_is_refused():
    with pytest.raises(ImageConversionError, match="bytes-like object, got list"):
        image_to_rgb("mono8", 1, 2, 2, [1, 2])
    with pytest.raises(ImageConversionError, match="bytes-like object, got NoneType"):
        image_to_rgb("mono8", 1, 2, 2, None)
    with pytest.raises(ImageConversionError, match="contiguous"):
        image_to_rgb("mono8", 1, 2, 2, np.zeros(4, np.uint8)[::2])


def encode(rgb, ext):
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def test_compressed_png_is_exact_and_jpeg_is_close():
    smooth = np.zeros((16, 24, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, 24, dtype=np.uint8)
    smooth[..., 1] = 100
    smooth[..., 2] = np.linspace(255, 0, 16, dtype=np.uint8)[:, None]
    for fmt in ("png", "bgr8; png compressed bgr8", "PNG"):
        np.testing.assert_array_equal(compressed_to_rgb(fmt, encode(smooth, ".png")), smooth)
    for fmt in ("jpeg", "rgb8; jpeg compressed bgr8", "jpg"):
        out = compressed_to_rgb(fmt, array.array("B", encode(smooth, ".jpg")))
        assert out.shape == smooth.shape and np.abs(out.astype(int) - smooth).mean() < 4


def png_header(width, height):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


@pytest.mark.parametrize(
    "fmt, data, message",
    [
        ("tiff", b"II*\x00", "unsupported compressed format 'tiff'"),
        ("16UC1; compressedDepth", b"\x89PNG", "depth image"),
        ("jpeg", b"", "no data"),
        ("jpeg", b"GIF89a....", "neither JPEG nor PNG"),
        ("png", png_header(100000, 100000), "declares 100000x100000 pixels"),
        ("png", png_header(0, 5), "empty size"),
        ("png", png_header(4, 4), "could not decode"),
        ("png", b"\x89PNG\r\n\x1a\n\x00\x00", "no IHDR"),
        ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "no frame header"),
        (3, b"\xff\xd8", "format must be a string"),
    ],
)
def test_bad_compressed_images_raise_one_clear_error(fmt, data, message):
    with pytest.raises(ImageConversionError, match=message):
        compressed_to_rgb(fmt, data)


def test_truncated_jpeg_is_an_error_or_an_image_of_the_declared_size():
    data = encode(RGB, ".jpg")
    for cut in (len(data) // 3, len(data) - 10, 30, 4):
        try:
            out = compressed_to_rgb("jpeg", data[:cut])
        except ImageConversionError:
            continue
        assert out.shape == RGB.shape

