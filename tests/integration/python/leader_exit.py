# The main thread ends with pthread_exit while a worker thread spins on: the process lives,
# its leader a zombie whose /proc files no longer show the address space (Python 3 only).
# Modes: none (the main thread exits at once), "on-signal" (it exits when SIGUSR1 comes), and
# "first-exits PATH" (it exits at once, and a thread started before the spinner, so the first
# live one left, ends when PATH exists).
import ctypes
import os
import sys
import threading
import time


def spin():
    total = 0
    while True:
        for i in range(10000):
            total += i * i


def wait_for_path(path):
    while not os.path.exists(path):
        time.sleep(0.02)


if sys.argv[1:2] == ["first-exits"]:
    threading.Thread(target=wait_for_path, args=(sys.argv[2],), name="first").start()
threading.Thread(target=spin, name="spinner").start()
on_signal = sys.argv[1:] == ["on-signal"]  # the main thread exits when SIGUSR1 comes, not at once
if on_signal:
    import signal

    signal.signal(signal.SIGUSR1, lambda number, frame: ctypes.CDLL(None).pthread_exit(None))
time.sleep(0.2)
print("ready")
sys.stdout.flush()
while on_signal:
    time.sleep(0.05)
ctypes.CDLL(None).pthread_exit(None)
