# A parent that, over and over, sleeps 0.4 s, then forks a child that spins 0.03 s of CPU time
# in first_steps() and 0.17 s in spin(), and exits, and waits for it: short-lived processes born
# while the parent is idle, whose first moments are seen only if they are sampled from birth.
#   short_children.py --exec   the child execs this script again after first_steps(), which
#                              then spins 0.17 s in after_exec() and exits
#   short_children.py --orphans  the child is forked by a go-between that exits at once (a
#                              double fork, as daemons do); this process, their subreaper,
#                              waits for both
import ctypes
import os
import sys
import time


def cpu_seconds():
    times = os.times()
    return times[0] + times[1]


def spin(seconds):
    end = cpu_seconds() + seconds
    x = 0
    while cpu_seconds() < end:
        for _ in range(1000):
            x = (x + 1) % 1000003
    return x


def first_steps(seconds):
    return spin(seconds)


def after_exec(seconds):
    return spin(seconds)


def child_life(exec_child):
    first_steps(0.03)
    if exec_child:
        os.execv(sys.executable, [sys.executable, __file__, "--after-exec"])
    spin(0.17)
    os._exit(0)


def main(exec_child, orphans):
    if orphans:
        PR_SET_CHILD_SUBREAPER = 36
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    print("ready")
    sys.stdout.flush()
    while True:
        time.sleep(0.4)
        child = os.fork()
        if child == 0:
            if orphans and os.fork() != 0:
                os._exit(0)  # the go-between
            child_life(exec_child)
        os.waitpid(child, 0)
        if orphans:
            os.waitpid(-1, 0)  # the orphan, once it ends


if "--after-exec" in sys.argv[1:]:
    after_exec(0.17)
else:
    main("--exec" in sys.argv[1:], "--orphans" in sys.argv[1:])
