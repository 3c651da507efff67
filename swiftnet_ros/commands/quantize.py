"""``swiftnet-ros quantize --weights W --calibration synthetic|DIR|BAG --num N -o m_int8.onnx``

int8 static quantization with ONNX Runtime (``swiftnet_ros.infer.quantize``). ``--weights`` is a
checkpoint or preset (exported to fp32 ONNX first, at ``--size``, ending at the stride-4 logits) or an
fp32 .onnx export. ``--keep-fp32 auto`` (the default) measures which layers stay fp32. The
calibration images are synthetic road scenes (seeds from ``--seed``, by default disjoint from the
training seeds and from the published evaluation's), the images of a folder, or the frames of a
rosbag2 bag; this module reads them and hands the library plain arrays.
"""

import argparse
import os
from typing import Callable, Iterator, List, Tuple

import numpy as np

from swiftnet_ros.commands.main import UsageError
from swiftnet_ros.files import IMAGE_SUFFIXES

SYNTHETIC = "synthetic"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from swiftnet_ros.infer.quantize import (
        AUTO,
        CALIBRATION_METHODS,
        CALIBRATION_SEED,
        CHECK_EVERY,
        DEFAULT_KEEP_FP32,
        DEFAULT_TARGET_AGREEMENT,
        KEEP_FP32,
    )
    from swiftnet_ros.tools.bags import IMAGE_TOPIC

    parser.add_argument("--weights", required=True,
                        help="checkpoint, preset (random weights) or fp32 .onnx export")
    parser.add_argument("--calibration", default=SYNTHETIC,
                        help="'synthetic' (seeded road scenes), a folder of images or a rosbag2 bag")
    parser.add_argument("--num", type=int, default=32,
                        help="calibration images (default 32; with --keep-fp32 {} the 2nd and every {}th "
                        "after it are held out to measure agreement)".format(AUTO, CHECK_EVERY))
    parser.add_argument("--seed", type=int, default=CALIBRATION_SEED,
                        help="first synthetic scene seed (default {})".format(CALIBRATION_SEED))
    parser.add_argument("--topic", default=IMAGE_TOPIC, help="a bag's image topic (default %(default)s)")
    parser.add_argument("--size", default=None,
                        help="export size WIDTHxHEIGHT for a checkpoint (default: its config's input_size)")
    parser.add_argument("--keep-fp32", default=DEFAULT_KEEP_FP32,
                        help="layers left in fp32: '{}' (default: the logits conv and the fewest encoder "
                        "blocks from the input with which every held-out image meets --target-agreement), "
                        "or some of {} ('' for none)".format(AUTO, ", ".join(KEEP_FP32)))
    parser.add_argument("--target-agreement", type=float, default=DEFAULT_TARGET_AGREEMENT,
                        help="with --keep-fp32 {}: the fraction of each held-out image's labels that must "
                        "equal fp32's (default %(default)s)".format(AUTO))
    parser.add_argument("--method", default=CALIBRATION_METHODS[0], choices=CALIBRATION_METHODS,
                        help="activation range calibration (default %(default)s)")
    parser.add_argument("-o", "--output", required=True, help="int8 ONNX file to write")


def folder_images(folder: str) -> List[str]:
    """The image files of a folder, sorted; a folder without any is a usage error."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise UsageError("calibration folder {!r} has no images ({})".format(
            folder, ", ".join(IMAGE_SUFFIXES)))
    return [os.path.join(folder, n) for n in names]


Images = Callable[[Tuple[int, int]], Iterator[np.ndarray]]


def calibration_images(source: str, num: int, seed: int, topic: str) -> Tuple[Images, int, str]:
    """(images(size), how many, description) for ``--calibration``: synthetic scenes at the model's
    size, a folder's images or a bag's frames, each (H, W, 3) uint8 RGB, read lazily. Checked before
    the model is loaded, so a bad source fails at once."""
    if num < 1:
        raise UsageError("--num must be >= 1, got {}".format(num))
    if source == SYNTHETIC:
        from swiftnet_ros.data.synthetic import make_scene

        return (lambda size: (make_scene(seed + i, size)[0] for i in range(num))), num, (
                "synthetic scenes {}..{}".format(seed, seed + num - 1))
    if not os.path.isdir(source):
        raise UsageError("--calibration {!r}: expected 'synthetic', a folder of images or a rosbag2 bag "
                         "directory".format(source))
    if os.path.isfile(os.path.join(source, "metadata.yaml")):
        from swiftnet_ros.tools.bags import deserialize, image_to_array, iter_messages, topic_counts

        count = min(num, topic_counts(source).get(topic, 0))
        if count == 0:
            raise UsageError("bag {!r} has no messages on image topic {!r}".format(source, topic))

        def frames(size: Tuple[int, int]) -> Iterator[np.ndarray]:
            for i, message in enumerate(iter_messages(source, [topic])):
                if i >= count:
                    return
                yield image_to_array(deserialize(message)).copy()  # a writable array of its own

        return frames, count, "{} frames of bag {} ({})".format(count, source, topic)
    from swiftnet_ros.data.datasets import read_image

    paths = folder_images(source)[:num]
    description = "{} images of {}".format(len(paths), source)
    return (lambda size: (read_image(p) for p in paths)), len(paths), description


def fp32_export(weights: str, size_text: object) -> Tuple[object, Tuple[int, int]]:
    """(fp32 ONNX path or bytes, its input size (H, W)) for ``--weights``."""
    from swiftnet_ros.infer.export import export_onnx
    from swiftnet_ros.infer.metadata import read_onnx_metadata
    from swiftnet_ros.infer.quantize import EXPORT_ARGMAX
    from swiftnet_ros.infer.weights import load_torch_weights, weights_kind
    from swiftnet_ros.sizes import parse_size

    if weights_kind(weights) == "onnx":
        if size_text is not None:
            raise UsageError("--size is for checkpoints: {!r} is already exported at its own size"
                             .format(weights))
        return weights, read_onnx_metadata(weights)["input_size"]
    if weights_kind(weights) == "engine":
        raise UsageError("--weights {!r} is a TensorRT engine; int8 quantization needs a checkpoint or an "
                         "fp32 .onnx".format(weights))
    model, meta = load_torch_weights(weights)
    if size_text is not None:
        size = parse_size(size_text)
    elif model.config.input_size:
        width, height = model.config.input_size
        size = (height, width)
    else:
        raise UsageError("--size is required: the config of {!r} has no input_size".format(weights))
    return export_onnx(model, size, meta["class_names"], meta["palette"], argmax=EXPORT_ARGMAX,
                       model_name=meta["model_name"]), size


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from swiftnet_ros.infer.quantize import (
        AUTO,
        check_auto_images,
        check_keep_fp32,
        quantization_info,
        quantize_onnx,
    )

    if args.keep_fp32.strip() == AUTO:
        keep = AUTO  # type: object
    else:
        keep = check_keep_fp32([k.strip() for k in args.keep_fp32.split(",") if k.strip()])
    if not 0 < args.target_agreement <= 1:
        raise UsageError("--target-agreement must be a fraction in (0, 1], got {}"
                         .format(args.target_agreement))
    if not args.output.lower().endswith(".onnx"):
        raise UsageError("-o {!r}: expected an .onnx file name".format(args.output))
    images, count, description = calibration_images(args.calibration, args.num, args.seed, args.topic)
    if keep == AUTO:
        check_auto_images(count)
    source, size = fp32_export(args.weights, args.size)
    bar = []

    def progress() -> Iterator[np.ndarray]:
        """The images with a progress bar that starts at the first one: the model's checks come first."""
        for image in images(size):
            if not bar:
                bar.append(tqdm(total=count, desc="calibration", unit="image"))
            yield image
            bar[0].update()
        if bar:
            bar[0].close()

    data = quantize_onnx(source, progress(), keep_fp32=keep, method=args.method, path=args.output,
                         calibration=description, target_agreement=args.target_agreement,
                         report=lambda line: print("auto: " + line))
    info = quantization_info(data)
    choice = ""
    if info["fp32_choice"] == AUTO:
        choice = " (auto: worst of {} held-out images {:.2%}, {} the target {:.2%})".format(
            info["check_images"], info["check_agreement"]["worst"], "meets" if info["met"] else "misses",
            info["target_agreement"])
    print("wrote {} (int8 QDQ at {}x{} WxH, calibrated on {}, fp32 layers: {}{}; {:.1f} MB)".format(
        args.output, size[1], size[0], description, ", ".join(info["fp32_layers"]) or "none", choice,
        os.path.getsize(args.output) / 1e6))
    return 0
