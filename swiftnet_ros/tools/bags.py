"""rosbag2 files of synthetic road scenes, written and read with the pure-Python ``rosbags`` library.

``rosbag2_py`` is not installable from PyPI, ``rosbags`` is: it writes and reads both storage
plugins (mcap, sqlite3) and its CDR bytes are what rclpy publishes and deserialises. A synthetic
bag holds camera frames on ``/camera/image_raw`` and the exact ground truth (mono8 trainIds, 255 =
void) on ``/camera/ground_truth`` with the same header stamps, so any output can be scored.

No rclpy here: ``player`` publishes the raw CDR bytes. ``rosbags`` needs Python >= 3.10, so it is
imported inside the functions; on a Jetson (Python 3.6) use ``ros2 bag`` instead.
"""

import json
import math
import os
import re
import shutil
import struct
import tempfile
from collections import namedtuple
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import yaml

from swiftnet_ros import sizes

IMAGE_TOPIC = "/camera/image_raw"
GROUND_TRUTH_TOPIC = "/camera/ground_truth"
FRAME_ID = "camera"
IMAGE_TYPE = "sensor_msgs/msg/Image"
STORAGES = ("mcap", "sqlite3")
MAX_SIDE = 8192  # pixels, for synthetic frames
# A fixed start time (2024-01-01T00:00:00Z) makes a bag a pure function of its arguments.
DEFAULT_START_NS = 1704067200 * 10 ** 9
# custom_data key in metadata.yaml that records how a synthetic bag was made.
SYNTHETIC_KEY = "swiftnet_ros.synthetic"

# One message as stored: topic, ROS type ("sensor_msgs/msg/Image"), bag time (ns), CDR bytes.
BagMessage = namedtuple("BagMessage", "topic msgtype timestamp data")
# One decoded synthetic frame: header stamp (ns), frame_id, RGB image, ground truth (or None).
Frame = namedtuple("Frame", "stamp_ns frame_id image labels")


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def parse_size(text: str) -> Tuple[int, int]:
    """``"WxH"`` (as on the command line) -> (height, width); bags need at least 16 pixels a side, and
    more than 8192 is surely a typing error (one frame would take over 200 MB)."""
    return sizes.parse_size(text, min_side=16, max_side=MAX_SIDE)


_TOPIC_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_topic(name: str, what: str = "topic") -> str:
    """An absolute ROS 2 topic name such as /camera/image_raw (bags store absolute names)."""
    tokens = str(name).split("/")[1:]
    if not str(name).startswith("/") or not tokens or not all(_TOPIC_TOKEN.match(t) for t in tokens):
        raise ValueError("{} {!r}: expected an absolute ROS topic name such as /camera/image_raw "
                         "(letters, digits and _ between slashes, no token starting with a digit)"
                         .format(what, name))
    return name


def check_output(path: str, overwrite: bool) -> None:
    """A bag may be written at ``path``: nothing there, or (with overwrite) a bag, never another folder
    or file; the folder above it can be created and written."""
    if os.path.lexists(path):
        if not overwrite:
            raise FileExistsError("bag {} exists already: remove it, or replace it with --overwrite "
                                  "(overwrite=True)".format(path))
        if not os.path.isfile(os.path.join(path, "metadata.yaml")) or os.path.islink(path):
            raise FileExistsError("{} exists and is not a rosbag2 bag (no metadata.yaml): not replacing it; "
                                  "expected a new path or a bag".format(path))
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError("bag {}: {} is not a writable folder".format(path, parent))


def check_writer_settings(path: str, rate: float, storage: str, image_topic: str, ground_truth_topic: str,
                          overwrite: bool) -> None:
    """What ``write_image_bag`` needs of its arguments; a ValueError / FileExistsError naming the bad one."""
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ValueError("bad rate {}: expected a positive, finite number of frames per second".format(rate))
    if storage not in STORAGES:
        raise ValueError("bad storage {!r}: expected one of {}".format(storage, ", ".join(STORAGES)))
    check_topic(image_topic, "image topic")
    check_topic(ground_truth_topic, "ground truth topic")
    if image_topic == ground_truth_topic:
        raise ValueError("image and ground truth topics are both {}: expected two topics".format(image_topic))
    check_output(path, overwrite)


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (rosbags or rclpy) -> integer nanoseconds."""
    return int(stamp.sec) * 10 ** 9 + int(stamp.nanosec)


def header_stamp_ns(cdr: bytes) -> int:
    """Header stamp of a CDR message whose first field is std_msgs/Header (sec, nanosec)."""
    little = cdr[1] == 1  # encapsulation: 0x0001 = CDR little endian, 0x0000 = big endian
    sec, nanosec = struct.unpack_from("<iI" if little else ">iI", cdr, 4)
    return sec * 10 ** 9 + nanosec


def image_message(typestore: Any, fields: Dict[str, Any], stamp_ns: int, frame_id: str) -> Any:
    """A rosbags sensor_msgs/Image from the plain fields of ``camera_encoding.rgb_to_image_fields``."""
    types = typestore.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10 ** 9, nanosec=stamp_ns % 10 ** 9),
        frame_id=frame_id,
    )
    data = np.frombuffer(bytes(fields["data"]), dtype=np.uint8)
    return types[IMAGE_TYPE](
        header=header,
        height=int(fields["height"]),
        width=int(fields["width"]),
        encoding=str(fields["encoding"]),
        is_bigendian=int(fields["is_bigendian"]),
        step=int(fields["step"]),
        data=data,
    )


def write_image_bag(
    path: str,
    scenes: Iterable[Tuple[np.ndarray, Optional[np.ndarray]]],
    rate: float = 10.0,
    storage: str = "mcap",
    encoding: str = "rgb8",
    image_topic: str = IMAGE_TOPIC,
    ground_truth_topic: str = GROUND_TRUTH_TOPIC,
    frame_id: str = FRAME_ID,
    start_ns: int = DEFAULT_START_NS,
    row_padding: int = 0,
    custom_data: Optional[Dict[str, str]] = None,
    overwrite: bool = False,
) -> int:
    """Write (RGB image, labels or None) pairs as frames at ``rate`` Hz; return the frame count.

    Frame i is stamped ``start_ns + i / rate``; its labels (if any) go to ``ground_truth_topic``
    as mono8 with the same header. The bag is written to a temporary directory next to ``path``
    and renamed into place, so a crash or Ctrl-C never leaves a half-written bag.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    from swiftnet_ros.ros.image_conversion import mono8_fields
    from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

    path = os.path.abspath(path)
    check_writer_settings(path, rate, storage, image_topic, ground_truth_topic, overwrite)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    period_ns = int(round(1e9 / rate))
    typestore = _typestore()
    count = 0
    tmp_dir = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    try:
        tmp_bag = os.path.join(tmp_dir, os.path.basename(path))
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        writer = Writer(tmp_bag, version=Writer.VERSION_LATEST, storage_plugin=plugin)
        for key, value in (custom_data or {}).items():
            writer.set_custom_data(key, value)
        writer.open()
        try:
            image_conn = writer.add_connection(image_topic, IMAGE_TYPE, typestore=typestore)
            truth_conn = None
            for rgb, labels in scenes:
                stamp = start_ns + count * period_ns
                fields = rgb_to_image_fields(rgb, encoding, row_padding=row_padding)
                image = image_message(typestore, fields, stamp, frame_id)
                writer.write(image_conn, stamp, bytes(typestore.serialize_cdr(image, IMAGE_TYPE)))
                if labels is not None:
                    if truth_conn is None:
                        truth_conn = writer.add_connection(ground_truth_topic, IMAGE_TYPE,
                                                           typestore=typestore)
                    truth = image_message(typestore, mono8_fields(labels), stamp, frame_id)
                    writer.write(truth_conn, stamp, bytes(typestore.serialize_cdr(truth, IMAGE_TYPE)))
                count += 1
            if count == 0:
                raise ValueError("no frames to write to {}: expected at least 1".format(path))
        except BaseException:
            writer.abort()
            raise
        writer.close()
        if os.path.exists(path):
            shutil.rmtree(path)
        os.rename(tmp_bag, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return count


def write_synthetic_bag(
    path: str,
    frames: int,
    size: Tuple[int, int] = (256, 512),
    seed: int = 0,
    rate: float = 10.0,
    storage: str = "mcap",
    encoding: str = "rgb8",
    image_topic: str = IMAGE_TOPIC,
    ground_truth_topic: str = GROUND_TRUTH_TOPIC,
    frame_id: str = FRAME_ID,
    start_ns: int = DEFAULT_START_NS,
    row_padding: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Dict[str, Any]:
    """Write ``frames`` synthetic scenes (seeds seed, seed+1, ...) of size (H, W) with ground truth.

    Returns the description that is also stored in the bag's metadata (``synthetic_description``).
    """
    from tqdm import tqdm

    from swiftnet_ros.data.synthetic import make_scene
    from swiftnet_ros.tools.camera_encoding import rgb_to_image_fields

    if frames < 1:
        raise ValueError("bad frame count {}: expected at least 1".format(frames))
    if seed < 0 or seed + frames > 2 ** 32:
        raise ValueError("bad seed {}: expected 0 <= seed and seed + frames <= 2**32".format(seed))
    # every setting is checked before the first scene is drawn: the writer's own checks, and the
    # encoding, size and row padding by encoding a blank frame (yuv422 needs an even width)
    check_writer_settings(os.path.abspath(path), rate, storage, image_topic, ground_truth_topic, overwrite)
    rgb_to_image_fields(np.zeros((size[0], size[1], 3), np.uint8), encoding, row_padding=row_padding)
    description = {
        "frames": frames, "height": size[0], "width": size[1], "seed": seed, "rate": rate,
        "encoding": encoding, "row_padding": row_padding, "image_topic": image_topic,
        "ground_truth_topic": ground_truth_topic, "frame_id": frame_id, "start_ns": start_ns,
        "label_set": "cityscapes",
    }
    scenes = (make_scene(seed + i, size) for i in tqdm(range(frames), desc="make-bag", unit="frame",
                                                        disable=not progress))
    write_image_bag(
        path, scenes, rate=rate, storage=storage, encoding=encoding, image_topic=image_topic,
        ground_truth_topic=ground_truth_topic, frame_id=frame_id, start_ns=start_ns, row_padding=row_padding,
        custom_data={SYNTHETIC_KEY: json.dumps(description, sort_keys=True)}, overwrite=overwrite,
    )
    return description


def bag_metadata(path: str) -> Dict[str, Any]:
    """The ``rosbag2_bagfile_information`` of a bag directory's metadata.yaml."""
    meta_path = os.path.join(path, "metadata.yaml")
    if not os.path.isfile(meta_path):
        raise FileNotFoundError("no rosbag2 bag at {}: expected a directory with metadata.yaml".format(path))
    with open(meta_path) as f:
        return yaml.safe_load(f)["rosbag2_bagfile_information"]


def synthetic_description(path: str) -> Optional[Dict[str, Any]]:
    """How a synthetic bag was made (the dict ``write_synthetic_bag`` returned), or None."""
    custom = bag_metadata(path).get("custom_data") or {}
    text = custom.get(SYNTHETIC_KEY)
    return json.loads(text) if text else None


def topic_counts(path: str) -> Dict[str, int]:
    """Message count per topic, from the metadata."""
    return {
        t["topic_metadata"]["name"]: int(t["message_count"])
        for t in bag_metadata(path)["topics_with_message_count"]
    }


def iter_messages(path: str, topics: Optional[Sequence[str]] = None) -> Iterator[BagMessage]:
    """Raw messages in bag-time order, optionally only those of ``topics``."""
    from rosbags.rosbag2 import Reader

    if not os.path.isdir(path):
        raise FileNotFoundError("no rosbag2 bag at {}: expected a bag directory".format(path))
    with Reader(path) as reader:
        available = sorted({c.topic for c in reader.connections})
        missing = sorted(set(topics or ()) - set(available))
        if missing:
            raise ValueError("topics {} not in bag {}: it has {}".format(missing, path, available))
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, timestamp, data in reader.messages(connections=connections):
            yield BagMessage(conn.topic, conn.msgtype, timestamp, bytes(data))


def deserialize(message: BagMessage, typestore: Any = None) -> Any:
    """A rosbags message object from a raw BagMessage."""
    return (typestore or _typestore()).deserialize_cdr(message.data, message.msgtype)


def image_to_array(msg: Any) -> np.ndarray:
    """A camera sensor_msgs/Image (rosbags or rclpy, any supported encoding) -> RGB uint8 H×W×3."""
    from swiftnet_ros.ros.image_conversion import image_to_rgb

    return image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, _data(msg), msg.is_bigendian)


def labels_to_array(msg: Any) -> np.ndarray:
    """A mono8 label sensor_msgs/Image (ground truth, segmentation/labels) -> uint8 H×W."""
    from swiftnet_ros.ros.image_conversion import check_image

    check_image(msg.encoding, msg.height, msg.width, msg.step, len(_data(msg)), msg.is_bigendian)
    if msg.encoding != "mono8":
        raise ValueError("label image has encoding {!r}: expected mono8".format(msg.encoding))
    rows = np.frombuffer(_data(msg), dtype=np.uint8).reshape(msg.height, msg.step)
    return rows[:, : msg.width].copy()


def _data(msg: Any) -> bytes:
    return msg.data if isinstance(msg.data, bytes) else np.asarray(msg.data, dtype=np.uint8).tobytes()


def read_frames(
    path: str, image_topic: str = IMAGE_TOPIC, ground_truth_topic: Optional[str] = GROUND_TRUTH_TOPIC,
    stamps: Optional[Sequence[int]] = None,
) -> List[Frame]:
    """Decoded frames of a bag (all, or those with these header stamps), with their ground truth."""
    typestore = _typestore()
    wanted = None if stamps is None else set(stamps)
    topics = [image_topic] + ([ground_truth_topic] if ground_truth_topic else [])
    images: Dict[int, Tuple[str, np.ndarray]] = {}
    truths: Dict[int, np.ndarray] = {}
    for message in iter_messages(path, topics):
        if wanted is not None and header_stamp_ns(message.data) not in wanted:
            continue
        msg = deserialize(message, typestore)
        stamp = stamp_to_ns(msg.header.stamp)
        if message.topic == image_topic:
            images[stamp] = (msg.header.frame_id, image_to_array(msg))
        else:
            truths[stamp] = labels_to_array(msg)
    return [Frame(s, fid, img, truths.get(s)) for s, (fid, img) in sorted(images.items())]


def header_stamps(path: str, topic: str = IMAGE_TOPIC) -> List[int]:
    """Header stamps (ns) of a topic's messages in bag order, read without decoding the images."""
    return [header_stamp_ns(m.data) for m in iter_messages(path, [topic])]


def read_ground_truth(path: str, topic: str = GROUND_TRUTH_TOPIC) -> Dict[int, np.ndarray]:
    """Ground-truth label images by header stamp (ns)."""
    typestore = _typestore()
    truths = {}
    for message in iter_messages(path, [topic]):
        msg = deserialize(message, typestore)
        truths[stamp_to_ns(msg.header.stamp)] = labels_to_array(msg)
    return truths
