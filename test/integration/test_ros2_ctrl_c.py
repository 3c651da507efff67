"""Ctrl-C at once after the node says it is ready: exit 0, no traceback, every time.

The executor now exists before the "ready:" line; when spin still built it after that line, a SIGINT
sent the moment the line appeared raised KeyboardInterrupt outside any handler (9 of 30 such runs
gave a traceback). The node's output is read through a pipe, so the SIGINT follows the line at once.
"""

import signal
import subprocess

from node_helpers import FAST_MODEL, REPO, unique_namespace

from swiftnet_ros.tools.processes import node_command, ros_env, stop_process

CYCLES = 5


def test_sigint_right_after_ready_exits_cleanly_every_time():
    command = node_command(unique_namespace("ctrl_c"), dict(FAST_MODEL, input_size="64x32"))
    for cycle in range(CYCLES):
        node = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(ros_env(), OMP_NUM_THREADS="1"), cwd=REPO)
        try:
            lines = []
            for line in node.stdout:
                lines.append(line)
                if "ready:" in line:
                    node.send_signal(signal.SIGINT)
                    break
            lines.append(node.stdout.read())
            code = node.wait(30)
        finally:
            stop_process(node)
            node.stdout.close()
        output = "".join(lines)
        assert "ready:" in output, output
        assert code == 0, "cycle {}:\n{}".format(cycle, output)
        assert "Traceback" not in output and "Exception ignored" not in output, output
