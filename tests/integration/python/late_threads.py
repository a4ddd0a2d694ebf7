# Threads that start only once a profiler is attached: "ready" once the SIGUSR1 handler is set;
# on SIGUSR1 four "spinner" threads start running Python code (handing the GIL to one another,
# so they leave and take a CPU hundreds of times a second) and four "napper" threads go to
# sleep at once; "started" when all eight have. Python 2.7 and 3.x.
import signal
import sys
import threading
import time


def spin():
    x = 0
    while True:
        x = (x + 1) % 1000003


def nap(running):
    running.release()
    while True:
        time.sleep(1000)


go = threading.Event()
signal.signal(signal.SIGUSR1, lambda number, frame: go.set())
sys.stdout.write("ready\n")
sys.stdout.flush()
while not go.is_set():  # a plain wait() would not see the signal in 2.7
    time.sleep(0.01)
running = threading.Semaphore(0)
for i in range(4):
    for target, name, args in ((spin, "spinner-%d" % i, ()), (nap, "napper-%d" % i, (running,))):
        thread = threading.Thread(target=target, name=name, args=args)
        thread.daemon = True
        thread.start()
for i in range(4):
    running.acquire()
sys.stdout.write("started\n")
sys.stdout.flush()
while True:
    time.sleep(1000)
