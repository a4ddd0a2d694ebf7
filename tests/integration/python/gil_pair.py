# Four threads: "spinner" runs Python code (needs the GIL), "reader" fills a 128 MiB buffer from
# /dev/zero over and over (readinto releases the GIL, and each call keeps the kernel busy for
# longer than the 5 ms the reader may then wait for the GIL, however fast the machine's memory),
# "sleeper" sleeps, and the main thread sleeps too; "ready" on stdout once they are all in
# their loops. Python 2.7 and 3.x.
import io
import sys
import threading
import time


def spin_python():
    x = 0
    while True:
        x = (x + 1) % 1000003


def read_without_gil():
    zero = io.FileIO("/dev/zero", "r")
    buffer = bytearray(128 << 20)
    while True:
        zero.readinto(buffer)  # milliseconds in the kernel per call, without the GIL


asleep = threading.Event()


def sleep_forever():
    asleep.set()
    while True:
        time.sleep(1000)


for target, name in ((spin_python, "spinner"), (read_without_gil, "reader"), (sleep_forever, "sleeper")):
    thread = threading.Thread(target=target, name=name)
    thread.daemon = True
    thread.start()
# "ready" once the sleeper is asleep: on its way there it runs, in sleep_forever, and a test that
# checks a sleeping thread is never sampled must start after that.
asleep.wait()
time.sleep(0.3)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    time.sleep(1000)
