"""``swiftnet-ros segment INPUT... -o OUT --weights W [--overlay]``: image files, folders and videos.

For each image: ``<name>_labels.png`` (8-bit class ids, 255 = void), ``<name>_color.png`` and, with
--overlay, ``<name>_overlay.png``. For each video: ``<name>_color.mp4`` or ``<name>_overlay.mp4``
annotated with the model and its latency. Files in folders keep their relative paths under OUT
(``OUT/<folder name>/<relative path>``).

Output names never clash: where two inputs would write the same file (``vid.mp4`` and ``vid.avi``,
``cam1/0001.png`` and ``cam2/0001.png``), their names keep the suffix (``vid_mp4_color.mp4``) and
then as many parent folders as it takes (``cam1/0001_png_labels.png``). Every file is written under
a temporary name and renamed when complete, so a failed or interrupted input leaves nothing behind.
"""

import argparse
import os
import sys
from typing import Dict, List, Sequence, Tuple

import numpy as np

from swiftnet_ros.commands.checks import check_output_folder, resolve_weights
from swiftnet_ros.commands.main import RunError, UsageError
from swiftnet_ros.files import IMAGE_SUFFIXES

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")

# one input: kind "image" | "video", its path, the output stem relative to OUT
Item = Tuple[str, str, str]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or video files")
    parser.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    parser.add_argument("--weights", action="append", required=True,
                        help="checkpoint, .onnx, .engine, preset or 'demo' (the bundled checkpoint); "
                             "repeat it for an ensemble")
    parser.add_argument("--backend", default="auto", help="auto | torch | onnxruntime | tensorrt")
    parser.add_argument("--precision", default="fp32",
                        help="fp32 | fp16 (CUDA) | bf16 (torch on a CPU with AVX512-BF16 or AMX, or a GPU "
                        "with bf16) | int8 (an int8 ONNX file)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--size", default=None,
                        help="model input size WIDTHxHEIGHT (default: each image's own size)")
    parser.add_argument("--overlay", action="store_true", help="also write colours blended over the input")
    parser.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (default 0.5)")
    parser.add_argument("--scales", default="1",
                        help="comma-separated inference scales, e.g. 0.5,0.75,1,1.25,1.5 (checkpoints only)")
    parser.add_argument("--flip", action="store_true",
                        help="add horizontally flipped passes (checkpoints only)")


def _kind(path: str) -> str:
    return "video" if path.lower().endswith(VIDEO_SUFFIXES) else "image"


def _is_media(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES + VIDEO_SUFFIXES)


def collect_inputs(paths: Sequence[str], skip: str = "") -> List[Item]:
    """(kind, path, stem relative to OUT) for files and folder contents, sorted; each file once.

    ``skip``: a folder left out of folder walks (the output folder, so a second run does not
    segment the first run's results)."""
    items: List[Item] = []
    seen = set()
    skip_real = os.path.realpath(skip) if skip else ""

    def add(kind: str, path: str, stem: str) -> None:
        real = os.path.realpath(path)
        if real not in seen:  # the same file named twice is segmented once
            seen.add(real)
            items.append((kind, path, stem))

    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(root, d)) != skip_real)
                found.extend(os.path.join(root, name) for name in files if _is_media(name))
            if not found:
                raise UsageError("folder {!r} has no images ({}) or videos ({})".format(
                    path, ", ".join(IMAGE_SUFFIXES), ", ".join(VIDEO_SUFFIXES)))
            base = os.path.basename(os.path.abspath(path))
            for full in sorted(found):
                add(_kind(full), full, os.path.join(base, os.path.splitext(os.path.relpath(full, path))[0]))
        elif os.path.isfile(path):
            if not _is_media(path):
                raise UsageError("input {!r}: unknown file type; expected an image ({}) or a video ({})"
                                 .format(path, ", ".join(IMAGE_SUFFIXES), ", ".join(VIDEO_SUFFIXES)))
            add(_kind(path), path, os.path.splitext(os.path.basename(path))[0])
        else:
            raise UsageError("input {!r} not found: expected an image, a video or a folder".format(path))
    return items


def output_files(kind: str, stem: str, overlay: bool) -> List[str]:
    """The files (relative to OUT) that one input writes."""
    if kind == "video":
        return [stem + ("_overlay.mp4" if overlay else "_color.mp4")]
    return [stem + s for s in ("_labels.png", "_color.png") + (("_overlay.png",) if overlay else ())]


def _stem_forms(item: Item) -> List[str]:
    """The output stems of an input from shortest to most specific: as collected, with the suffix,
    then with one more parent folder at a time."""
    _, path, stem = item
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    with_suffix = stem + "_" + suffix if suffix else stem
    forms = [stem, with_suffix]
    # the folder the stem starts from: the file's own for a file, the folder's parent for folder contents
    depth = len(os.path.normpath(stem).split(os.sep))
    top = os.path.abspath(path)
    for _ in range(depth):
        top = os.path.dirname(top)
    prefix = ""
    while True:
        name = os.path.basename(top)
        if not name:
            break
        prefix = os.path.join(name, prefix) if prefix else name
        forms.append(os.path.join(prefix, with_suffix))
        top = os.path.dirname(top)
    return forms


def unique_stems(items: Sequence[Item], overlay: bool) -> List[Item]:
    """``items`` with stems made specific enough that no two inputs write the same output file."""
    forms = [_stem_forms(item) for item in items]
    level = [0] * len(items)
    while True:
        owners: Dict[str, List[int]] = {}
        for i, (kind, _, _) in enumerate(items):
            for name in output_files(kind, forms[i][level[i]], overlay):
                owners.setdefault(os.path.normcase(name), []).append(i)
        clashes = sorted({i for group in owners.values() if len(set(group)) > 1 for i in group})
        if not clashes:
            break
        bumped = False
        for i in clashes:
            if level[i] + 1 < len(forms[i]):
                level[i] += 1
                bumped = True
        if not bumped:  # even full paths clash (case-folding file systems): number them
            for n, i in enumerate(clashes):
                forms[i].append("{}_{}".format(forms[i][-1], n + 1))
                level[i] = len(forms[i]) - 1
    return [(kind, path, forms[i][level[i]]) for i, (kind, path, _) in enumerate(items)]


def _make_segmenter(args: argparse.Namespace, weights: List[str]) -> object:
    from swiftnet_ros.infer.multiscale import MultiScaleSegmenter, check_scales
    from swiftnet_ros.infer.weights import weights_kind
    from swiftnet_ros.sizes import parse_size

    size = parse_size(args.size) if args.size else None
    scales = check_scales(args.scales.split(","))
    if len(weights) > 1 or scales != (1.0,) or args.flip:
        what = "ensembles" if len(weights) > 1 else "--flip" if args.flip else "--scales"
        for name in weights:
            kind = weights_kind(name)
            if kind in ("onnx", "engine"):
                raise UsageError("{} needs checkpoints or presets: --weights {!r} is an {} file (flip, "
                                 "multi-scale and ensembles run the PyTorch model)"
                                 .format(what, name, "ONNX" if kind == "onnx" else "engine"))
        if args.backend not in ("auto", "torch"):
            raise UsageError("multi-scale, flip and ensembles run on the torch backend, not --backend {!r}"
                             .format(args.backend))
        return MultiScaleSegmenter(weights, scales=scales, flip=args.flip, device=args.device,
                                   precision=args.precision, input_size=size)
    from swiftnet_ros.infer import Segmenter

    return Segmenter(weights[0], backend=args.backend, precision=args.precision, device=args.device,
                     input_size=size, warmup=0)


def _write(path: str, rgb: np.ndarray) -> None:
    import cv2

    from swiftnet_ros.files import write_bytes_atomic

    image = rgb if rgb.ndim == 2 else np.ascontiguousarray(rgb[:, :, ::-1])
    ok, encoded = cv2.imencode(os.path.splitext(path)[1], image)
    if not ok:
        raise RunError("could not encode {!r}".format(path))
    write_bytes_atomic(path, encoded.tobytes())


def segment_image(segmenter: object, path: str, out_stem: str, overlay: bool, alpha: float) -> None:
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise RunError("could not read image {!r}".format(path))
    labels = segmenter.segment(bgr, rgb=False).labels
    pictures = [("_labels.png", labels), ("_color.png", segmenter.colorize(labels))]
    if overlay:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        pictures.append(("_overlay.png", segmenter.overlay(rgb, labels, alpha)))
    for suffix, picture in pictures:
        _write(out_stem + suffix, picture)


def segment_video(segmenter: object, path: str, out_stem: str, overlay: bool, alpha: float) -> int:
    """Writes an annotated video (under a temporary name until its last frame); returns the frame count."""
    import cv2
    from tqdm import tqdm

    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise RunError("could not open video {!r}".format(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    output = out_stem + ("_overlay.mp4" if overlay else "_color.mp4")
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    # cv2 picks the container by the suffix, so the temporary name keeps it
    partial = "{}.partial-{}.mp4".format(output[:-len(".mp4")], os.getpid())
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
                    writer = cv2.VideoWriter(partial, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (frame.shape[1], frame.shape[0]))
                    if not writer.isOpened():
                        raise RunError("could not open video writer for {!r}".format(output))
                writer.write(frame)
                frames += 1
                bar.update(1)
        if frames == 0:
            raise RunError("video {!r} has no readable frames".format(path))
        writer.release()
        writer = None
        os.replace(partial, output)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        if os.path.exists(partial):
            os.remove(partial)
    return frames


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm


    # every argument, input and the output folder are checked before the model loads
    check_output_folder(args.output, "output")
    items = unique_stems(collect_inputs(args.inputs, skip=args.output), args.overlay)
    if not 0.0 <= args.alpha <= 1.0:
        raise UsageError("--alpha {}: expected a number in [0, 1]".format(args.alpha))
    weights = [resolve_weights(w) for w in args.weights]
    segmenter = _make_segmenter(args, weights)
    print("segmenting {} input(s) with {}".format(len(items), segmenter.describe()))
    failures = 0
    for kind, path, stem in tqdm(items, desc="segment", unit="file"):
        out_stem = os.path.join(args.output, stem)
        try:
            if kind == "image":
                segment_image(segmenter, path, out_stem, args.overlay, args.alpha)
            else:
                segment_video(segmenter, path, out_stem, args.overlay, args.alpha)
        except (ValueError, RuntimeError, OSError) as error:
            failures += 1
            tqdm.write("swiftnet-ros segment: skipped {}: {}".format(path, " ".join(str(error).split())),
                       file=sys.stderr)
    print("backend {}: {}".format(segmenter.backend_name, segmenter.backend_reason))  # auto: timed at image 1
    print("wrote results for {} of {} input(s) to {}".format(len(items) - failures, len(items), args.output))
    return 1 if failures else 0
