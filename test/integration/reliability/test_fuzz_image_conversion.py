"""Fuzzing the image conversion: any field values -> a correct array or ImageConversionError, nothing else.

The expected outcome is decided here, independently of the code under test, from the rules of
sensor_msgs/Image; the data buffer is exactly as long as declared, so a read past it would raise
numpy's own error (not ImageConversionError) and fail the test.
"""

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swiftnet_ros.ros.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_to_rgb,
    image_to_rgb,
)

BYTES_PER_PIXEL = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "yuv422": 2, "uyvy": 2,
                   "yuv422_yuy2": 2, "yuyv": 2, "rgb16": 6, "bgr16": 6, "rgba16": 8, "bgra16": 8, "mono16": 2}
BYTES_PER_PIXEL.update({"bayer_{}{}".format(p, b): b // 8 for p in ("rggb", "bggr", "gbrg", "grbg")
                        for b in (8, 16)})
assert set(BYTES_PER_PIXEL) == set(SUPPORTED_ENCODINGS)

encodings = st.one_of(  # mostly real encodings, so that a fair share of examples are valid
    st.sampled_from(SUPPORTED_ENCODINGS),
    st.sampled_from(SUPPORTED_ENCODINGS),
    st.sampled_from(SUPPORTED_ENCODINGS),
    st.sampled_from(["RGB8", "rgb8 ", "bayer_rggb", "yuv420", "16UC1", "8UC3", "nv12", "jpeg"]),
    st.text(max_size=10),
)
sizes = st.one_of(st.integers(1, 24), st.integers(1, 24), st.integers(1, 24), st.integers(-2, 0),
                  st.sampled_from([100000, 2 ** 31, 2 ** 32 - 1]))
bigendian = st.one_of(st.sampled_from([0, 1]), st.sampled_from([2, 255, -1]), st.booleans())


YUV = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")


def expected_valid(encoding, height, width, step, length, is_bigendian):
    bpp = BYTES_PER_PIXEL.get(encoding)
    if bpp is None or height <= 0 or width <= 0 or is_bigendian not in (0, 1):
        return False
    if step < width * bpp or length != step * height:
        return False
    return not (encoding in YUV and width % 2)


def reference_rgb(encoding, height, width, step, data):
    """Pure-numpy reference for the 8-bit packed encodings (others: shape and dtype only)."""
    rows = np.frombuffer(data, np.uint8).reshape(height, step)
    if encoding == "mono8":
        return np.repeat(rows[:, :width, None], 3, axis=2)
    channels = BYTES_PER_PIXEL[encoding]
    pixels = rows[:, :width * channels].reshape(height, width, channels)
    return pixels[..., [2, 1, 0]] if encoding.startswith("bgr") else pixels[..., :3]


RAW_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=700, deadline=None, suppress_health_check=RAW_HEALTH)
@given(encoding=encodings, height=sizes, width=sizes, consistent=st.sampled_from([True, True, False]),
       step_delta=st.integers(-9, 9),
       length_delta=st.integers(-5, 5), short_length=st.integers(0, 300), is_bigendian=bigendian,
       seed=st.integers(0, 2 ** 16))
def test_fuzz_raw_image_fields(figures, encoding, height, width, consistent, step_delta, length_delta,
                               short_length, is_bigendian, seed):
    """Two thirds of the examples keep step and data length consistent (padding only), a third break them."""
    bpp = BYTES_PER_PIXEL.get(encoding, 3)
    if consistent:
        step_delta, length_delta, is_bigendian = abs(step_delta), 0, int(is_bigendian) % 2
    step = max(width, 0) * bpp + step_delta
    declared = step * height
    length = declared + length_delta if 0 <= declared + length_delta <= 1 << 16 else short_length
    data = np.random.default_rng(seed).integers(0, 256, size=length, dtype=np.uint8).tobytes()
    figures["raw inputs tried"] = figures.get("raw inputs tried", 0) + 1
    try:
        out = image_to_rgb(encoding, height, width, step, data, is_bigendian)
    except ImageConversionError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert not expected_valid(encoding, height, width, step, length, is_bigendian), str(exc)
        figures["refused with a clear error"] = figures.get("refused with a clear error", 0) + 1
        return
    assert expected_valid(encoding, height, width, step, length, is_bigendian)
    assert out.shape == (height, width, 3) and out.dtype == np.uint8
    if encoding in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"):
        np.testing.assert_array_equal(out, reference_rgb(encoding, height, width, step, data))
    figures["converted"] = figures.get("converted", 0) + 1


def _encoded(ext):
    rgb = np.random.default_rng(5).integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    return cv2.imencode(ext, rgb)[1].tobytes()


VALID = {"jpeg": _encoded(".jpg"), "png": _encoded(".png")}


FORMATS = st.one_of(st.sampled_from(["jpeg", "png", "rgb8; jpeg compressed bgr8", "bgr8; png compressed"]),
                    st.text(max_size=8))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["jpeg", "png"]), fmt=FORMATS, cut=st.one_of(st.none(), st.integers(0, 2000)),
       flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=3),
       junk=st.binary(max_size=64), use_junk=st.sampled_from([False, False, True]))
def test_fuzz_compressed_images(figures, kind, fmt, cut, flips, junk, use_junk):
    """Valid, truncated, bit-flipped and random JPEG/PNG bytes under any format string."""
    data = bytearray(junk if use_junk else VALID[kind][:cut])
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    figures["compressed inputs tried"] = figures.get("compressed inputs tried", 0) + 1
    try:
        out = compressed_to_rgb(fmt, bytes(data))
    except ImageConversionError as exc:
        assert str(exc) and "\n" not in str(exc)
        figures["refused with a clear error"] = figures.get("refused with a clear error", 0) + 1
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8
    figures["decoded"] = figures.get("decoded", 0) + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encoding=st.sampled_from(SUPPORTED_ENCODINGS), height=st.integers(1, 16),
       half_width=st.integers(1, 12), odd=st.booleans(), padding=st.integers(0, 9),
       is_bigendian=st.sampled_from([0, 1]),
       seed=st.integers(0, 2 ** 16))
def test_fuzz_valid_raw_images_convert_correctly(figures, encoding, height, half_width, odd, padding,
                                                 is_bigendian, seed):
    """Every well-formed image converts; the packed 8- and 16-bit ones byte-exactly."""
    width = 2 * half_width - (odd and encoding not in YUV)
    bpp = BYTES_PER_PIXEL[encoding]
    step = width * bpp + padding
    data = np.random.default_rng(seed).integers(0, 256, size=step * height, dtype=np.uint8).tobytes()
    out = image_to_rgb(encoding, height, width, step, data, is_bigendian)
    assert out.shape == (height, width, 3) and out.dtype == np.uint8
    if encoding.endswith("16") and not encoding.startswith("bayer"):
        rows = np.frombuffer(data, np.uint8).reshape(height, step)[:, :width * bpp]
        high = rows[:, 0::2] if is_bigendian else rows[:, 1::2]  # the high byte of each word
        eight_bit = encoding[:-2] + "8"
        high = np.ascontiguousarray(high).tobytes()
        np.testing.assert_array_equal(out, reference_rgb(eight_bit, height, width, width * bpp // 2, high))
    elif encoding in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"):
        np.testing.assert_array_equal(out, reference_rgb(encoding, height, width, step, data))
    figures["valid images converted"] = figures.get("valid images converted", 0) + 1
