"""Image sizes on the command line and in parameters: "WIDTHxHEIGHT", as in the paper (1024x512)."""

import re
from typing import Optional, Tuple

_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str, min_side: int = 1, max_side: Optional[int] = None) -> Tuple[int, int]:
    """"1024x512" -> (height, width) = (512, 1024), the order tensors and arrays use.

    Raises ValueError naming the text and what was expected.
    """
    match = _SIZE.match(str(text))
    width, height = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not match or min(width, height) < min_side or (max_side is not None and max(width, height) > max_side):
        sides = "{}..{}".format(min_side, max_side) if max_side is not None else ">= {}".format(min_side)
        raise ValueError("bad size {!r}: expected WIDTHxHEIGHT such as 1024x512, sides {}"
                         .format(text, sides))
    return height, width
