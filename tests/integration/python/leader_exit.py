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
time.sleep(0.2)
print("ready")
sys.stdout.flush()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)  # an argument delays the exit
ctypes.CDLL(None).pthread_exit(None)
