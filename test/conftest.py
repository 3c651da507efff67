"""Shared test set-up: large images between processes need Fast DDS's LARGE_DATA transports."""

import os

os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
