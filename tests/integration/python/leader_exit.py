# The main thread ends with pthread_exit while a worker thread spins on: the process lives,
# its leader a zombie whose /proc files no longer show the address space (Python 3 only).
import ctypes
import sys
import threading
import time


def spin():
    total = 0
    while True:
        for i in range(10000):
            total += i * i


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
