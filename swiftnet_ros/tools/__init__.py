"""Tools around the node, not on its run-time path: rosbag2 writing and playback, camera encoders,
child-process helpers, the end-to-end demo and the backend benchmark."""
