"""``swiftnet-ros segment INPUT... -o OUT --weights W [--overlay]``: image files, folders and videos.

For each image: ``<name>_labels.png`` (8-bit class ids, 255 = void), ``<name>_color.png`` and, with
--overlay, ``<name>_overlay.png``. For each video: ``<name>_color.mp4`` or ``<name>_overlay.mp4``
annotated with the model and its latency. Files in folders keep their relative paths under OUT.
"""

import argparse
import os
import sys
from typing import List, Tuple

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or video files")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    parser.add_argument("--weights", action="append", required=True,
                        help="checkpoint, .onnx, .engine or preset; repeat it for an ensemble")
    parser.add_argument("--backend", default="auto", help="auto | torch | onnxruntime | tensorrt")
    parser.add_argument("--precision", default="fp32", help="fp32 | fp16 (CUDA)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--size", default=None,
                        help="model input size WIDTHxHEIGHT (default: each image's own size)")
    parser.add_argument("--overlay", action="store_true", help="also write colours blended over the input")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (default 0.5)")
    parser.add_argument("--scales", default="1",
                        help="comma-separated inference scales, e.g. 0.5,0.75,1,1.25,1.5")
    parser.add_argument("--flip", action="store_true", help="add horizontally flipped passes")


def collect_inputs(paths: List[str]) -> List[Tuple[str, str, str]]:
    """(kind "image"|"video", path, output stem relative to OUT) for files and folder contents, sorted."""
    items = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, _, files in os.walk(path):
                for name in files:
                    if name.lower().endswith(IMAGE_SUFFIXES + VIDEO_SUFFIXES):
                        found.append(os.path.join(root, name))
            if not found:
                raise ValueError("folder {!r} has no images ({}) or videos"
                                 .format(path, ", ".join(IMAGE_SUFFIXES)))
            base = os.path.basename(os.path.normpath(path))
            for full in sorted(found):
                stem = os.path.join(base, os.path.splitext(os.path.relpath(full, path))[0])
                items.append((_kind(full), full, stem))
        elif os.path.isfile(path):
            if not path.lower().endswith(IMAGE_SUFFIXES + VIDEO_SUFFIXES):
                raise ValueError("input {!r}: unknown file type; expected an image ({}) or a video ({})"
                                 .format(path, ", ".join(IMAGE_SUFFIXES), ", ".join(VIDEO_SUFFIXES)))
            items.append((_kind(path), path, os.path.splitext(os.path.basename(path))[0]))
        else:
            raise FileNotFoundError("input {!r} not found".format(path))
    return items


def _kind(path: str) -> str:
    return "video" if path.lower().endswith(VIDEO_SUFFIXES) else "image"


def _make_segmenter(args: argparse.Namespace) -> object:
    from swiftnet_ros.infer.multiscale import MultiScaleSegmenter, check_scales
    from swiftnet_ros.sizes import parse_size

    size = parse_size(args.size) if args.size else None
    scales = check_scales(args.scales.split(","))
    if len(args.weights) > 1 or scales != (1.0,) or args.flip:
        if args.backend not in ("auto", "torch"):
            raise ValueError("multi-scale, flip and ensembles run on the torch backend, not {!r}"
                             .format(args.backend))
        return MultiScaleSegmenter(args.weights, scales=scales, flip=args.flip, device=args.device,
                                   precision=args.precision, input_size=size)
    from swiftnet_ros.infer import Segmenter

    return Segmenter(args.weights[0], backend=args.backend, precision=args.precision, device=args.device,
                     input_size=size, warmup=0)


def _write(path: str, rgb: np.ndarray) -> None:
    import cv2

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    image = rgb if rgb.ndim == 2 else np.ascontiguousarray(rgb[:, :, ::-1])
    if not cv2.imwrite(path, image):
        raise RuntimeError("could not write {!r}".format(path))


def segment_image(segmenter: object, path: str, out_stem: str, overlay: bool, alpha: float) -> None:
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("could not read image {!r}".format(path))
    labels = segmenter.segment(bgr, rgb=False).labels
    _write(out_stem + "_labels.png", labels)
    _write(out_stem + "_color.png", segmenter.colorize(labels))
    if overlay:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        _write(out_stem + "_overlay.png", segmenter.overlay(rgb, labels, alpha))


def segment_video(segmenter: object, path: str, out_stem: str, overlay: bool, alpha: float) -> int:
    """Writes an annotated video; returns the number of frames."""
    import cv2
    from tqdm import tqdm

    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError("could not open video {!r}".format(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    output = out_stem + ("_overlay.mp4" if overlay else "_color.mp4")
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    writer = None
    frames = 0
    try:
        with tqdm(total=total, desc=os.path.basename(path), unit="frame", leave=False) as bar:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                result = segmenter.segment(bgr, rgb=False)
                rgb = np.ascontiguousarray(bgr[:, :, ::-1])
                if overlay:
                    shown = segmenter.overlay(rgb, result.labels, alpha)
                else:
                    shown = segmenter.colorize(result.labels)
                frame = np.ascontiguousarray(shown[:, :, ::-1])
                text = "{} {:.1f} ms".format(segmenter.model_name, result.timings["total"])
                cv2.putText(frame, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2,
                            cv2.LINE_AA)
                if writer is None:
                    writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (frame.shape[1], frame.shape[0]))
                    if not writer.isOpened():
                        raise RuntimeError("could not open video writer for {!r}".format(output))
                writer.write(frame)
                frames += 1
                bar.update(1)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise ValueError("video {!r} has no readable frames".format(path))
    return frames


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    try:
        items = collect_inputs(args.inputs)
        if not 0.0 <= args.alpha <= 1.0:
            raise ValueError("--alpha must lie in [0, 1], got {}".format(args.alpha))
        segmenter = _make_segmenter(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print("swiftnet-ros segment: error: {}".format(error), file=sys.stderr)
        return 1
    print("segmenting {} input(s) with {}".format(len(items), segmenter.describe()))
    failures = 0
    for kind, path, stem in tqdm(items, desc="segment", unit="file"):
        out_stem = os.path.join(args.output, stem)
        try:
            if kind == "image":
                segment_image(segmenter, path, out_stem, args.overlay, args.alpha)
            else:
                segment_video(segmenter, path, out_stem, args.overlay, args.alpha)
        except (ValueError, RuntimeError) as error:
            failures += 1
            tqdm.write("swiftnet-ros segment: skipped {}: {}".format(path, error), file=sys.stderr)
    print("wrote results for {} of {} input(s) to {}".format(len(items) - failures, len(items), args.output))
    return 1 if failures else 0
