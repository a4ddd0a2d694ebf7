# An asyncio program that blocks its own event loop for known times, among short callbacks:
#   stall_service.py stalls   every second: decoder() burns the CPU for 200 ms in one step, then
#                             sleeper() calls time.sleep(0.15) in one step; meanwhile chatter()
#                             runs 3 ms steps back to back (each a callback of its own, never a
#                             stall) and ticker() wakes every 10 ms.
#   stall_service.py idle     only ticker(): the loop waits in select.
#   --python-tasks            every task is the pure-Python asyncio.tasks._PyTask.
#   --uvloop                  the loop is uvloop's (Debian's python3-uvloop), not asyncio's.
# Prints "ready" once the loop runs, then "made NAME SECONDS" for each block it made, measured from
# inside the callback run (and for a chatter step that a busy machine stretched past 50 ms).
import asyncio
import sys
import time


def burn(seconds):
    end = time.perf_counter() + seconds
    total = 0
    while time.perf_counter() < end:
        total += 1
    return total


async def ticker():
    while True:
        await asyncio.sleep(0.01)


async def chatter():
    late = None
    while True:
        if late is not None:  # a step the machine stretched into a block (it was descheduled)
            print("made chatter %.4f" % late, flush=True)
            late = None
        start = time.perf_counter()
        burn(0.003)
        elapsed = time.perf_counter() - start
        if elapsed > 0.05:
            late = elapsed
        await asyncio.sleep(0)


def decode_body():
    return burn(0.2)


async def decoder():
    while True:
        await asyncio.sleep(0.4)
        start = time.perf_counter()
        decode_body()  # MARK: decode
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0)  # the block's callback run ends here, before the print
        print("made decoder %.4f" % elapsed, flush=True)
        await asyncio.sleep(0.6)


async def sleeper():
    await asyncio.sleep(0.2)
    while True:
        await asyncio.sleep(0.8)
        start = time.perf_counter()
        time.sleep(0.15)  # MARK: sleep
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0)
        print("made sleeper %.4f" % elapsed, flush=True)
        await asyncio.sleep(0.2)


async def main(mode, python_tasks):
    loop = asyncio.get_event_loop()
    if python_tasks:
        loop.set_task_factory(lambda loop, coroutine: asyncio.tasks._PyTask(coroutine, loop=loop))
    tasks = [loop.create_task(ticker())]
    if mode == "stalls":
        for coroutine, name in ((chatter(), "chatter"), (decoder(), "decoder"), (sleeper(), "sleeper")):
            task = loop.create_task(coroutine)
            task.set_name(name)
            tasks.append(task)
    print("ready", flush=True)
    await asyncio.gather(*tasks)


if "--uvloop" in sys.argv[2:]:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
asyncio.run(main(sys.argv[1], "--python-tasks" in sys.argv[2:]))
