#!/usr/bin/env python3
"""How often a recording of a strictly periodic loop reads its split wrong, by simulation.

A loop spends the first 3/4 of each cycle in one function and the rest in another. A clock samples
it at a period drawn at random, (1 + u) x the mean with u uniform in [-0.5, 0.5] (as sampler does),
and kept for `--hold` samples before the next draw; the loop's cycle is drawn between 0.4 and 1.6
of the mean period for each recording. A period that fits the cycle a whole number of times (or
nearly) sees the same few points of it for the whole hold, so the recording's share of the first
function strays further than independent samples would. The README's figures for the hold come
from here:

    bench/aliasing.py --hold 64 --samples 1500     # 31 of 20000 recordings off by more than 5 points
    bench/aliasing.py --hold 125 --samples 1500    # 170 of 20000 (a 250-ms drain's samples at 500 Hz)
    bench/aliasing.py --hold 64 --samples 3000     # none of 20000
"""

import argparse
import random


def recorded_share(rng, hold, samples, cycle, share):
    """The first function's share of `samples` samples of a loop with this cycle (mean period 1)."""
    now = rng.random() * cycle
    first = 0
    taken = 0
    while taken < samples:
        period = 1 + rng.uniform(-0.5, 0.5)
        for _ in range(min(hold, samples - taken)):
            now += period
            first += (now % cycle) < share * cycle
            taken += 1
    return first / samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=int, default=64, help="samples per random period (default 64)")
    parser.add_argument("--samples", type=int, default=1500, help="samples per recording (default 1500)")
    parser.add_argument("--recordings", type=int, default=20000, help="recordings simulated (default 20000)")
    parser.add_argument("--margin", type=float, default=5.0, help="points off that count as a miss (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    share = 0.75
    misses = 0
    worst = 0.0
    for _ in range(args.recordings):
        off = abs(recorded_share(rng, args.hold, args.samples, rng.uniform(0.4, 1.6), share) - share) * 100
        worst = max(worst, off)
        misses += off > args.margin
    print(f"hold {args.hold}, {args.samples} samples: {misses} of {args.recordings} recordings more than "
          f"{args.margin:g} points off a 75:25 loop (1 in {args.recordings / misses:.0f}); worst {worst:.1f} points"
          if misses else
          f"hold {args.hold}, {args.samples} samples: none of {args.recordings} recordings more than "
          f"{args.margin:g} points off a 75:25 loop; worst {worst:.1f} points")


if __name__ == "__main__":
    main()
