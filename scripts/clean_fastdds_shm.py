#!/usr/bin/env python3
"""Remove Fast DDS shared-memory files in /dev/shm that no running process uses.

A ROS 2 process that is killed (SIGKILL, a crash) leaves its Fast DDS segments, port files and
named semaphores behind; enough of them slow or stall discovery for later processes. Files that a
live process has mapped or open are kept, so this is safe while other ROS 2 programs run.
"""

import glob
import os
import sys


def files_in_use() -> set:
    used = set()
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            with open(os.path.join(proc, "maps")) as maps:
                for line in maps:
                    if "/dev/shm/" in line:
                        used.add(line.split(None, 5)[-1].strip().replace(" (deleted)", ""))
            for fd in os.listdir(os.path.join(proc, "fd")):
                target = os.readlink(os.path.join(proc, "fd", fd))
                if target.startswith("/dev/shm/"):
                    used.add(target)
        except OSError:  # the process ended or is not ours to read
            continue
    return used


def main() -> int:
    stale = sorted(set(glob.glob("/dev/shm/fastdds*") + glob.glob("/dev/shm/sem.fastdds*")) - files_in_use())
    for path in stale:
        try:
            os.remove(path)
        except OSError as error:
            print("clean_fastdds_shm: cannot remove {}: {}".format(path, error), file=sys.stderr)
    print("clean_fastdds_shm: removed {} stale Fast DDS file(s) from /dev/shm".format(len(stale)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
