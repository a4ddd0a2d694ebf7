# A known tree of asyncio tasks, for `sampler dump --tasks`. Task-1 (main; 3.13.0 names it "None"
# when a task factory is set) gathers named tasks:
# one finished, one asleep (through a coroutine of its own), one waiting on an Event, one
# awaiting a task it created ("inner"), on 3.11+ one inside a TaskGroup whose two children wait
# too, and "spinner", which runs on the CPU for ever (in a coroutine it awaits): the loop's running
# task. Before it spins,
# the spinner writes the tree as CPython itself sees it (names, states, coroutine chains with
# file:line, who awaits whom) as JSON to the file named on the command line. A second loop runs
# in the thread "loop-thread", its one task ("background") asleep.
#
#   python asyncio_tree.py REPORT [--python-tasks]
#
# --python-tasks: every task is the pure-Python asyncio.tasks._PyTask instead of _asyncio.Task.
# Python 3.8+.
import asyncio
import json
import os
import sys
import threading

FUTURES_PY = os.path.join("asyncio", "futures.py")


async def nap():
    await asyncio.sleep(3600)  # MARK: nap


async def sleeper():
    await nap()  # MARK: sleeper


async def event_waiter(event):
    await event.wait()  # MARK: event-waiter


async def waiter(tasks):
    tasks["inner"] = asyncio.get_event_loop().create_task(nap(), name="inner")
    await tasks["inner"]  # MARK: waiter


async def quick():
    return 1


async def group(tasks, event):
    async with asyncio.TaskGroup() as children:
        tasks["group-sleeper"] = children.create_task(nap(), name="group-sleeper")
        tasks["group-waiter"] = children.create_task(event_waiter(event), name="group-waiter")


def coroutine_chain(task):
    """The task's coroutines as CPython sees them, innermost first."""
    frames = []
    awaitable = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        code = frame.f_code
        name = getattr(code, "co_qualname", code.co_name)
        # The pure-Python Future's __await__ is how a _PyTask is awaited: plumbing, like the C
        # Future's iterator, which has no frame.
        if code.co_name == "__await__" and code.co_filename.endswith(FUTURES_PY):
            break
        frames.append({"name": name, "file": code.co_filename, "line": frame.f_lineno})
        awaitable = getattr(awaitable, "cr_await", None) if hasattr(awaitable, "cr_await") else getattr(
            awaitable, "gi_yieldfrom", None)
    return frames[::-1]


def describe(name, task, parents):
    return {
        "name": name,
        "state": "running" if name == "spinner" else "done" if task.done() else "pending",
        "python_task": type(task) is asyncio.tasks._PyTask,
        "coroutines": [] if name == "spinner" else coroutine_chain(task),
        "awaited_by": [{"name": parent, "via": via} for parent, via in parents.get(name, [])],
    }


def write_report(path, tasks, parents, background):
    report = {
        "pid": os.getpid(),
        "tasks": [describe(name, task, parents) for name, task in tasks.items()],
        "background": {
            "tid": background.native_id,
            "thread": background.thread.name,
            "tasks": [describe("background", background.task, {})],
        },
    }
    with open(path + ".tmp", "w") as out:
        json.dump(report, out, indent=1)
    os.rename(path + ".tmp", path)


async def spin():
    while True:  # MARK: spin-first
        pass  # MARK: spin-last


class BackgroundLoop:
    """A second event loop, run by a thread of its own, with one task asleep."""

    def __init__(self, task_factory):
        self.task_factory = task_factory
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, name="loop-thread", daemon=True)
        self.thread.start()

    def run(self):
        self.native_id = threading.get_native_id()
        loop = asyncio.new_event_loop()
        loop.set_task_factory(self.task_factory)
        self.task = loop.create_task(self.background(), name="background")
        loop.run_until_complete(self.task)

    async def background(self):
        asyncio.get_event_loop().call_soon(self.ready.set)  # runs once this task waits
        await asyncio.sleep(3600)  # MARK: background


async def spinner(report_path, tasks, parents, background):
    # Let every other task (and the tasks they create) reach the await it stays in.
    for _ in range(10):
        await asyncio.sleep(0)
    while not background.ready.is_set():
        await asyncio.sleep(0.01)
    write_report(report_path, tasks, parents, background)
    await spin()  # MARK: spinner


async def main(report_path):
    main_name = asyncio.current_task().get_name()
    tasks = {main_name: asyncio.current_task()}
    parents = {"inner": [("waiter", "await")]}
    event = asyncio.Event()
    loop = asyncio.get_event_loop()
    children = [
        ("quick", quick()),
        ("sleeper", sleeper()),
        ("event-waiter", event_waiter(event)),
        ("waiter", waiter(tasks)),
    ]
    if sys.version_info >= (3, 11):
        children.append(("group", group(tasks, event)))
        parents["group-sleeper"] = [("group", "taskgroup")]
        parents["group-waiter"] = [("group", "taskgroup")]
    background = BackgroundLoop(loop.get_task_factory())
    children.append(("spinner", spinner(report_path, tasks, parents, background)))
    for name, coroutine in children:
        tasks[name] = loop.create_task(coroutine, name=name)
        parents[name] = [(main_name, "gather")]
    await asyncio.gather(*(tasks[name] for name, _ in children))  # MARK: main


def python_task_factory(loop, coro, **kwargs):
    return asyncio.tasks._PyTask(coro, loop=loop, **kwargs)


if __name__ == "__main__":
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if "--python-tasks" in sys.argv[2:]:
        loop.set_task_factory(python_task_factory)
    loop.run_until_complete(main(sys.argv[1]))
