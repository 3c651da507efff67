"""``swiftnet-ros play-bag``: publish a rosbag2 through rclpy with its recorded header stamps."""

import argparse

from swiftnet_ros.commands.main import RunError
from swiftnet_ros.tools.player import QOS_CHOICES, PlayOptions, check_playable, parse_remaps, play


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 directory (mcap or sqlite3)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1)")
    parser.add_argument("--loop", action="store_true", help="play again and again until Ctrl-C")
    parser.add_argument("--topics", nargs="+", metavar="TOPIC", help="play only these topics (default all)")
    parser.add_argument("--topic-remap", nargs="+", action="append", default=[], metavar="OLD:=NEW",
                        help="publish topic OLD under the name NEW")
    parser.add_argument("--qos", choices=QOS_CHOICES, default="reliable",
                        help="publisher reliability (default reliable, like ros2 bag play)")
    parser.add_argument("--depth", type=int, default=10, help="publisher queue depth (default 10)")
    parser.add_argument("--wait-for-subscribers", type=int, default=0, metavar="N",
                        help="start only when every topic has N subscribers (default 0: at once)")
    parser.add_argument("--wait-timeout", type=float, default=60.0, metavar="S",
                        help="give up waiting for subscribers after S seconds (default 60)")
    parser.add_argument("--start-delay", type=float, default=0.0, metavar="S", help="sleep S seconds first")
    parser.add_argument("--clock", action="store_true", help="also publish /clock with the bag time")
    parser.add_argument("--publish-log", metavar="CSV",
                        help="write topic,bag_time_ns,header_stamp_ns,wall_time_ns (just before publishing) "
                             "per message")
    parser.add_argument("--answer-topic", metavar="TOPIC",
                        help="closed loop: wait for a message with each frame's header stamp on TOPIC "
                             "(e.g. the node's segmentation/labels) before publishing more")
    parser.add_argument("--max-in-flight", type=int, default=1, metavar="N",
                        help="with --answer-topic: frames published but not yet answered (default 1)")
    parser.add_argument("--answer-timeout", type=float, default=30.0, metavar="S",
                        help="with --answer-topic: give up on a frame after S seconds (default 30)")
    parser.add_argument("--node-name", default="swiftnet_bag_player", help="ROS node name")


def run(args: argparse.Namespace) -> int:
    options = PlayOptions(
        rate=args.rate, loop=args.loop, topics=args.topics, qos=args.qos, depth=args.depth,
        remaps=parse_remaps([item for group in args.topic_remap for item in group]),
        wait_for_subscribers=args.wait_for_subscribers, wait_timeout=args.wait_timeout,
        start_delay=args.start_delay, clock=args.clock, publish_log=args.publish_log,
        answer_topic=args.answer_topic, max_in_flight=args.max_in_flight,
        answer_timeout=args.answer_timeout, node_name=args.node_name)
    check_playable(args.bag, options)  # every usage error (exit 2) before ROS starts
    try:
        result = play(args.bag, options)
    except ValueError as err:  # found only while playing (a message that cannot be read): a run-time failure
        raise RunError(str(err)) from err
    if result.stopped:
        print("play-bag: stopped after {} messages".format(result.published))
        return 0
    text = "play-bag: published {} messages".format(result.published)
    if args.answer_topic:
        text += "; {} answered on {}, {} unanswered".format(result.answered, args.answer_topic,
                                                            result.unanswered)
    print(text)
    return 0
