# Runs Python code for a while, then execs another program (Python 2.7 and 3.x):
#   exec_chain.py then PROGRAM [ARGS...]   burns in before_exec() for 1.5 s, then execs PROGRAM
#   exec_chain.py after                    burns in after_exec() forever
import os
import sys
import time


def before_exec(seconds):
    end = time.time() + seconds
    total = 0
    while time.time() < end:
        total += 1
    return total


def after_exec():
    total = 0
    while True:
        total = (total * 31 + 7) % 1000003


if sys.argv[1] == "then":
    before_exec(1.5)
    os.execv(sys.argv[2], sys.argv[2:])
else:
    after_exec()
