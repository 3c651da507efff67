"""ROS 2 programs as child processes: their environment and DDS domain, starting and stopping them,
waiting for discovery. The demo, the bench/ scripts and the tests share these.

Three things make multi-process runs on one machine dependable:

- Fast DDS's ``LARGE_DATA`` builtin transports (else large images are lost between processes);
- a DDS domain of one's own, chosen among those no live or dead (killed) process has used: a killed
  process leaves its shared-memory port files in /dev/shm, and a later participant of that domain
  may wait on them instead of discovering its peers;
- discovery restricted to this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``), so no other
  host's traffic and no multicast routing decides whether two local processes find each other.
"""

import glob
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

# Fast DDS's port numbers (RTPS spec defaults): each domain owns 250 ports from 7400 + 250 * domain.
_PORT_BASE, _DOMAIN_GAIN = 7400, 250
MAX_DOMAIN_ID = 101  # the largest ROS 2 domain id whose ports fit below 32768 with Fast DDS
NODE_MODULE = "swiftnet_ros.commands.segmentation_node"  # ``python -m`` this to run segmentation_node
LIFECYCLE_NODE_MODULE = "swiftnet_ros.commands.segmentation_lifecycle_node"  # the managed node


def check_domain_id(domain_id: int) -> int:
    if not 0 <= domain_id <= MAX_DOMAIN_ID:
        raise ValueError("bad ROS domain id {}: expected 0 to {}".format(domain_id, MAX_DOMAIN_ID))
    return domain_id


def ros_env(domain_id: Optional[int] = None, localhost: bool = False,
            base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment for a ROS 2 child process: ``base`` (default: ours) with LARGE_DATA transports,
    and optionally a domain id and discovery on this machine only."""
    env = dict(os.environ if base is None else base)
    env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(check_domain_id(domain_id))
    if localhost:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return env


def use_ros_env(domain_id: Optional[int] = None, localhost: bool = False) -> Dict[str, str]:
    """Set what ``ros_env`` sets in this process too (before rclpy.init); return it for the children."""
    env = ros_env(domain_id, localhost)
    os.environ.update(env)
    return env


def used_domain_ids(shm_dir: str = "/dev/shm") -> set:
    """Domains that have Fast DDS port files in ``shm_dir`` (from live processes or killed ones)."""
    used = set()
    for path in glob.glob(os.path.join(shm_dir, "fastdds_port*")):
        match = re.match(r"fastdds_port(\d+)", os.path.basename(path))
        if match and int(match.group(1)) >= _PORT_BASE:
            used.add((int(match.group(1)) - _PORT_BASE) // _DOMAIN_GAIN)
    return used


def free_domain_id(rng: Optional[random.Random] = None, shm_dir: str = "/dev/shm") -> int:
    """A random domain (1..100) that no Fast DDS process on this machine uses or left state behind in."""
    rng = rng or random.Random(uuid.uuid4().int)
    free = sorted(set(range(1, 101)) - used_domain_ids(shm_dir))
    return rng.choice(free) if free else rng.randint(1, 100)


def isolate(environ: Any = None) -> int:
    """Give this process, and the children that inherit its environment, a free domain of their own
    with LARGE_DATA transports and discovery on this machine only; return the domain id."""
    environ = os.environ if environ is None else environ
    domain = free_domain_id()
    environ.update(ros_env(domain, localhost=True, base={}))
    return domain


def stop_process(proc: Any, timeout: float = 10.0) -> Tuple[Optional[int], float]:
    """SIGINT (Ctrl-C), then SIGTERM after ``timeout``, SIGKILL as the last resort.

    Returns (exit code after SIGINT, or None if it took more; seconds until the process ended). A
    killed ROS process can leave Fast DDS shared-memory state behind, so killing comes last.
    """
    start = time.monotonic()
    if proc.poll() is not None:
        return proc.returncode, 0.0
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, None)):
        proc.send_signal(sig)
        try:
            code = proc.wait(wait)
            return (code if sig == signal.SIGINT else None), time.monotonic() - start
        except subprocess.TimeoutExpired:
            continue
    return None, time.monotonic() - start  # not reached: wait() without a timeout returns


def spin_until(node: Any, done: Callable[[], bool], timeout: float, processes: Sequence[Any] = ()) -> bool:
    """Spin ``node`` until ``done()`` or timeout; stop early (False) if a watched process exited."""
    import rclpy

    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            return bool(done())
        rclpy.spin_once(node, timeout_sec=0.05)
    return True


def matched(endpoint: Any) -> int:
    """How many endpoints of the other side this publisher or subscription has matched."""
    if hasattr(endpoint, "get_subscription_count"):
        return endpoint.get_subscription_count()
    return endpoint.get_publisher_count()


def wait_for_match(node: Any, endpoint: Any, timeout: float, count: int = 1,
                   processes: Sequence[Any] = ()) -> bool:
    """Spin until ``endpoint`` (a publisher or subscription of ``node``) has matched ``count`` peers.

    A best-effort message sent before both sides have matched is lost without a trace; count
    messages only after this returned True.
    """
    return spin_until(node, lambda: matched(endpoint) >= count, timeout, processes)


def join_topic(namespace: str, name: str) -> str:
    return "/" + "/".join(part for part in (namespace.strip("/"), name.strip("/")) if part)


def unique_namespace(prefix: str = "t") -> str:
    return "/{}_{}".format(prefix, uuid.uuid4().hex[:8])


def ros_value(value: object) -> str:
    """A parameter value as ``-p name:=value`` takes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def node_command(namespace: str, parameters: Optional[Mapping[str, object]] = None,
                 remaps: Optional[Mapping[str, str]] = None, extra_ros_args: Iterable[str] = (),
                 module: str = NODE_MODULE) -> list:
    """``segmentation_node`` (or ``module``'s node) as a separate Python process, in ``namespace``, with
    these parameters."""
    command = [sys.executable, "-m", module, "--ros-args", "-r", "__ns:=" + namespace]
    for old, new in (remaps or {}).items():
        command += ["-r", "{}:={}".format(old, new)]
    for name, value in (parameters or {}).items():
        command += ["-p", "{}:={}".format(name, ros_value(value))]
    return command + list(extra_ros_args)


class NodeProcess:
    """segmentation_node in a child process; its stdout and stderr go to a temporary log file."""

    def __init__(self, namespace: str, params: Optional[Mapping[str, object]] = None,
                 extra_ros_args: Iterable[str] = (), env: Optional[Mapping[str, str]] = None,
                 cwd: Optional[str] = None, module: str = NODE_MODULE) -> None:
        self.namespace = namespace
        self.command = node_command(namespace, params, extra_ros_args=extra_ros_args, module=module)
        env = dict(ros_env() if env is None else env)
        env.setdefault("OMP_NUM_THREADS", "2")
        self._log = tempfile.NamedTemporaryFile(prefix="segmentation_node_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd)

    def output(self) -> str:
        with open(self._log.name, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait for the node's 'ready' log line; fail with its output if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready:" in self.output():
                return
            if self.proc.poll() is not None:
                raise RuntimeError("node exited with {} before it was ready:\n{}".format(
                    self.proc.returncode, self.output()))
            time.sleep(0.1)
        raise TimeoutError("node not ready after {} s:\n{}".format(timeout, self.output()))

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> Tuple[int, float]:
        """Send ``sig``; (exit code, seconds until the process was gone)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TimeoutError("node still running {} s after signal {}:\n{}".format(
                timeout, sig, self.output())) from None
        return code, time.monotonic() - start

    def close(self) -> None:
        stop_process(self.proc, timeout=5.0)  # SIGINT first: a killed node leaves Fast DDS state behind
        self._log.close()
        os.unlink(self._log.name)

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def process_figures(pid: int) -> Dict[str, float]:
    """Resident memory (MiB), threads and open file descriptors of a process, from /proc."""
    figures = {"fds": float(len(os.listdir("/proc/{}/fd".format(pid))))}
    with open("/proc/{}/status".format(pid)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                figures["rss_mib"] = int(line.split()[1]) / 1024.0
            elif line.startswith("Threads:"):
                figures["threads"] = float(line.split()[1])
    return figures
