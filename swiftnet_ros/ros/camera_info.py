"""The camera's calibration at the labels' size, without ROS: sensor_msgs/CameraInfo fields in and out.

``Calibration`` holds the fields of a CameraInfo (REP-104: K, P, width, height are those the camera
was calibrated at; ``roi`` and ``binning`` say which part of it, at what subsampling, an image shows).
``scale_calibration`` describes the labels image itself: width and height are the labels', K and P
map to labels pixels (with no ROI and no binning, the usual case, simply scaled: a 2048x1024
calibration at 1024x512 labels has fx, fy, cx, cy exactly halved); where the camera had a ROI or
binning they are folded into K and P, so the result has neither. D, R and the distortion model do not
depend on pixel size and stay. ``CalibrationBuffer`` keeps the last few messages and picks the one
whose stamp equals an image's, else the newest.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, List, Optional, Tuple

Stamp = Tuple[int, int]  # (sec, nanosec) of a header stamp


@dataclass
class Calibration:
    """The fields of sensor_msgs/CameraInfo less the header; roi as (x_offset, y_offset, height, width)."""

    width: int
    height: int
    distortion_model: str = ""
    d: List[float] = field(default_factory=list)
    k: List[float] = field(default_factory=lambda: [0.0] * 9)
    r: List[float] = field(default_factory=lambda: [0.0] * 9)
    p: List[float] = field(default_factory=lambda: [0.0] * 12)
    binning_x: int = 0
    binning_y: int = 0
    roi: Tuple[int, int, int, int] = (0, 0, 0, 0)
    roi_do_rectify: bool = False


def from_message(msg: Any) -> Calibration:
    """A Calibration from a sensor_msgs/CameraInfo (any object with its fields)."""
    roi = msg.roi
    return Calibration(width=int(msg.width), height=int(msg.height),
                       distortion_model=str(msg.distortion_model), d=[float(v) for v in msg.d],
                       k=[float(v) for v in msg.k], r=[float(v) for v in msg.r], p=[float(v) for v in msg.p],
                       binning_x=int(msg.binning_x), binning_y=int(msg.binning_y),
                       roi=(int(roi.x_offset), int(roi.y_offset), int(roi.height), int(roi.width)),
                       roi_do_rectify=bool(roi.do_rectify))


def fill_message(msg: Any, calibration: Calibration) -> Any:
    """Write a Calibration into a sensor_msgs/CameraInfo (the header is the caller's)."""
    msg.width, msg.height = calibration.width, calibration.height
    msg.distortion_model = calibration.distortion_model
    msg.d, msg.k = list(calibration.d), list(calibration.k)
    msg.r, msg.p = list(calibration.r), list(calibration.p)
    msg.binning_x, msg.binning_y = calibration.binning_x, calibration.binning_y
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.height, msg.roi.width = calibration.roi
    msg.roi.do_rectify = calibration.roi_do_rectify
    return msg


def _map_rows(matrix: List[float], columns: int, offset: Tuple[float, float], scale: Tuple[float, float]) -> \
        List[float]:
    """Rows 0 and 1 of a 3 x ``columns`` projection after moving the pixel origin by ``offset`` and
    scaling pixels by ``scale`` (u' = (u - x0) * sx: row0' = (row0 - x0 * row2) * sx)."""
    rows = [list(matrix[i * columns:(i + 1) * columns]) for i in range(3)]
    for i in (0, 1):
        rows[i] = [(a - offset[i] * c) * scale[i] for a, c in zip(rows[i], rows[2])]
    return rows[0] + rows[1] + rows[2]


def scale_calibration(calibration: Calibration, width: int, height: int) -> Calibration:
    """The calibration of an image of ``width`` x ``height`` pixels showing the camera's view (its ROI,
    or the whole calibrated frame) at that size: K and P scaled (ROI and binning folded in)."""
    x0, y0, roi_height, roi_width = calibration.roi
    if roi_width > 0 and roi_height > 0:
        view = (float(roi_width), float(roi_height))
    else:
        x0, y0, view = 0, 0, (float(calibration.width), float(calibration.height))
    if min(view) <= 0 or width <= 0 or height <= 0:
        raise ValueError("camera_info of size {}x{} (ROI {}) cannot be scaled to {}x{}".format(
            calibration.width, calibration.height, calibration.roi, width, height))
    scale = (width / view[0], height / view[1])
    return replace(calibration, width=int(width), height=int(height),
                   k=_map_rows(calibration.k, 3, (x0, y0), scale),
                   p=_map_rows(calibration.p, 4, (x0, y0), scale),
                   binning_x=0, binning_y=0, roi=(0, 0, 0, 0))


class CalibrationBuffer:
    """The last ``size`` camera_info messages by stamp (the subscription callback adds, the worker picks)."""

    def __init__(self, size: int = 10) -> None:
        if size < 1:
            raise ValueError("size must be >= 1, got {}".format(size))
        self.size = size
        self._items = OrderedDict()  # type: OrderedDict
        self._lock = threading.Lock()

    def add(self, stamp: Stamp, item: Any) -> None:
        with self._lock:
            self._items.pop(stamp, None)
            self._items[stamp] = item
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def match(self, stamp: Stamp) -> Optional[Any]:
        """The item with this stamp, else the newest one received; None before any arrived."""
        with self._lock:
            if stamp in self._items:
                return self._items[stamp]
            if not self._items:
                return None
            return next(reversed(self._items.values()))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
