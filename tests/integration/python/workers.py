# A parent that starts two busy worker processes one second in, then waits (Python 2.7 and 3.x).
import multiprocessing
import os
import time


def worker_loop():
    parent = os.getppid()
    x = 0
    while True:
        x = (x + 1) % 1000003
        if x == 0 and os.getppid() != parent:
            return  # orphaned: the test is over


def main():
    time.sleep(1)
    workers = [multiprocessing.Process(target=worker_loop) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
