# A thread whose only Python frames are a generator's and what it calls: C (collections.deque)
# drives the generator from the thread's start, so no Python frame lies under it. Python 2.7
# and 3.x. Prints "ready" once the thread runs.
from __future__ import print_function

import collections
import sys
import time

try:
    import _thread
except ImportError:  # Python 2
    import thread as _thread


def busy(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def producer():
    while True:
        yield busy(20000)


_thread.start_new_thread(collections.deque, (producer(), 0))
time.sleep(0.2)
print("ready")
sys.stdout.flush()
while True:
    time.sleep(1)
