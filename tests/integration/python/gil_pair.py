# Four threads: "spinner" runs Python code (needs the GIL), "reader" spends its time in the
# kernel copying from /dev/zero (os.read releases the GIL), "sleeper" sleeps, and the main thread
# sleeps too. Python 2.7 and 3.x.
import os
import threading
import time


def spin_python():
    x = 0
    while True:
        x = (x + 1) % 1000003


def read_without_gil():
    zero = os.open("/dev/zero", os.O_RDONLY)
    while True:
        os.read(zero, 16 << 20)


def sleep_forever():
    while True:
        time.sleep(1000)


for target, name in ((spin_python, "spinner"), (read_without_gil, "reader"), (sleep_forever, "sleeper")):
    thread = threading.Thread(target=target, name=name)
    thread.daemon = True
    thread.start()
while True:
    time.sleep(1000)
