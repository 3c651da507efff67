"""``swiftnet-ros make-bag``: write a rosbag2 of synthetic road scenes with exact ground truth."""

import argparse

from swiftnet_ros.ros.image_conversion import SUPPORTED_ENCODINGS
from swiftnet_ros.tools import bags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synthetic", action="store_true", required=True,
                        help="frames from the seeded synthetic road-scene generator (the only source)")
    parser.add_argument("-o", "--output", required=True, metavar="BAG", help="bag directory to create")
    parser.add_argument("--frames", type=int, default=30, metavar="N", help="number of frames (default 30)")
    parser.add_argument("--size", default="512x256", metavar="WxH", help="frame size (default 512x256)")
    parser.add_argument("--storage", choices=bags.STORAGES, default="mcap", help="rosbag2 storage plugin")
    parser.add_argument("--seed", type=int, default=0, help="scene i uses seed S+i (default 0)")
    parser.add_argument("--rate", type=float, default=10.0, metavar="HZ",
                        help="frame rate that sets the header stamps (default 10)")
    parser.add_argument("--encoding", choices=SUPPORTED_ENCODINGS, default="rgb8", metavar="ENCODING",
                        help="sensor_msgs/Image encoding: " + ", ".join(SUPPORTED_ENCODINGS))
    parser.add_argument("--row-padding", type=int, default=0, metavar="BYTES",
                        help="extra bytes at the end of each image row (step > width * pixel size)")
    parser.add_argument("--image-topic", default=bags.IMAGE_TOPIC, help="camera topic")
    parser.add_argument("--ground-truth-topic", default=bags.GROUND_TRUTH_TOPIC,
                        help="topic of the mono8 trainId ground truth (255 = void)")
    parser.add_argument("--frame-id", default=bags.FRAME_ID, help="header frame_id")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")


def run(args: argparse.Namespace) -> int:
    # every setting is checked before the first frame (ValueError / FileExistsError: exit 2, commands.main)
    info = bags.write_synthetic_bag(
        args.output, args.frames, size=bags.parse_size(args.size), seed=args.seed, rate=args.rate,
        storage=args.storage, encoding=args.encoding, image_topic=args.image_topic,
        ground_truth_topic=args.ground_truth_topic, frame_id=args.frame_id, row_padding=args.row_padding,
        overwrite=args.overwrite,
    )
    print("wrote {} ({}, {} frames {}x{} {} at {:g} Hz on {}, ground truth on {})".format(
        args.output, args.storage, info["frames"], info["width"], info["height"], info["encoding"],
        info["rate"], info["image_topic"], info["ground_truth_topic"]))
    return 0
