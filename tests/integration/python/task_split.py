# An asyncio program whose event loop splits its CPU time in a known ratio, for `record --tasks`:
# each loop iteration runs, one after the other, a step of task "cruncher" (coroutine
# Worker.crunch: 3 units of work), a step of an unnamed task (coroutine nibble, 1 unit) and a
# plain callback (1 unit, no task): 3:1:1. A unit is a count of the same bytecode, so the ratio
# holds in CPU time whatever the machine's load; each step's count is drawn at random around its
# mean, so the steps do not repeat with a period a sampler could fall in step with. A thread
# named "helper" works beside the loop (without the GIL, so the loop never waits for it, and at
# the lowest priority, so it takes only a CPU left spare), to show that threads without a loop
# keep their stacks as they are.
#   task_split.py [--python-tasks]   every task is then the pure-Python asyncio.tasks._PyTask
# Prints "task NAME COROUTINE" for each busy task, then "ready" once the loop runs.
import asyncio
import hashlib
import os
import random
import sys
import threading

UNIT = 20000
draw = random.Random(7)


def work(units):
    total = 0
    for _ in range(int(units * UNIT * draw.uniform(0.5, 1.5))):
        total += 1
    return total


class Worker:
    async def crunch(self):
        while True:
            work(3)
            await asyncio.sleep(0)


async def nibble():
    while True:
        work(1)
        await asyncio.sleep(0)


def plain_callback(loop):
    work(1)
    loop.call_soon(plain_callback, loop)


def helper():
    # Key derivation runs without the GIL: the loop is not made to wait for it. Each call is
    # long (about 10 s here) because taking the GIL back may never happen within a recording:
    # the loop releases and retakes it on every iteration (its select), so a thread waiting for
    # it is never granted a forced switch. Calls of 100 ms with a sleep between them left the
    # helper without a sample in a 4-s recording now and then. Nice 19 (Linux: per thread) keeps
    # its CPU from the loop and from the sampler under test.
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    while True:
        hashlib.pbkdf2_hmac("sha256", b"helper", b"salt", 50000000)


async def main(python_tasks):
    loop = asyncio.get_running_loop()
    if python_tasks:
        loop.set_task_factory(lambda loop, coroutine: asyncio.tasks._PyTask(coroutine, loop=loop))
    cruncher = loop.create_task(Worker().crunch())
    cruncher.set_name("cruncher")
    nibbler = loop.create_task(nibble())
    loop.call_soon(plain_callback, loop)
    threading.Thread(target=helper, name="helper", daemon=True).start()
    print("task %s Worker.crunch" % cruncher.get_name(), flush=True)
    print("task %s nibble" % nibbler.get_name(), flush=True)
    print("ready", flush=True)
    await asyncio.gather(cruncher, nibbler)


asyncio.run(main("--python-tasks" in sys.argv[1:]))
