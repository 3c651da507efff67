"""InputWatch: diagnostics warn when a matched publisher's frames do not arrive (large frames under
best-effort QoS are lost whole by the transport), and say what to set."""

from swiftnet_ros.ros.plumbing import BEST_EFFORT_FRAME_LIMIT_KIB, InputWatch, NodeStats, quiet_input_message


def test_quiet_only_while_publishers_are_matched_and_no_frame_came_for_the_period():
    watch = InputWatch(quiet_s=5.0)
    assert watch.quiet_for(100.0, 0, None) is None  # nobody publishes: nothing to say
    assert watch.quiet_for(101.0, 1, None) is None  # matched now
    assert watch.quiet_for(105.9, 1, None) is None
    assert watch.quiet_for(106.0, 1, None) == 5.0
    assert watch.quiet_for(107.0, 1, 106.5) is None  # a frame came
    assert watch.quiet_for(112.0, 1, 106.5) == 5.5
    assert watch.quiet_for(113.0, 0, 106.5) is None  # the publisher left
    assert watch.quiet_for(114.0, 2, 106.5) is None  # a new one: counted from its match, not the old frame


def test_the_message_names_the_cause_and_the_setting():
    text = quiet_input_message(1, "/cam/image", 6.0, best_effort=True)
    assert text.startswith("1 publisher(s) matched on /cam/image but no frame for 6 s")
    assert "{} KiB".format(BEST_EFFORT_FRAME_LIMIT_KIB) in text and "set input_qos: reliable" in text
    assert "input_qos" not in quiet_input_message(1, "/cam/image", 6.0, best_effort=False)


def test_node_stats_remember_the_last_frame_time():
    stats = NodeStats()
    assert stats.last_received is None
    stats.frame_received(12.5)
    assert stats.last_received == 12.5
