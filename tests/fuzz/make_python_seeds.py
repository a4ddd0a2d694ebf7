#!/usr/bin/env python3
"""Writes corpus/python/: one seed per CPython layout for fuzz_python.cpp.

Layout of a seed, as the harness reads it: byte 0 picks the layout, byte 1 what detection found
(bit 0: a GIL word, bit 1: type addresses), bytes 2-3 and 4-5 the entry and GIL offsets in the
regions, 2 bytes unused, then the memory of region A (0x10000000) and region B (0x20000000).
The words are the kind a walker follows: pointers into the regions, small counts, zeros."""
import os
import random
import struct

REGION_A, REGION_B, REGION_SIZE = 0x10000000, 0x20000000, 16 * 1024
LAYOUTS = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def word(rng):
    kind = rng.randrange(6)
    if kind < 3:
        return rng.choice((REGION_A, REGION_B)) + rng.randrange(REGION_SIZE // 8) * 8
    if kind == 3:
        return rng.randrange(64)
    return 0


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "python")
    os.makedirs(out, exist_ok=True)
    for index, name in enumerate(LAYOUTS):
        rng = random.Random(index)
        header = struct.pack("<BBHHH", index, 3, 64, 128, 0)
        body = b"".join(struct.pack("<Q", word(rng)) for _ in range(2 * 4096 // 8))
        with open(os.path.join(out, "layout-" + name), "wb") as seed:
            seed.write(header + body)


if __name__ == "__main__":
    main()
