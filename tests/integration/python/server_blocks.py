# What the test servers (aiohttp_service.py, fastapi_service.py) do to block their event loop,
# and how they bind and say they are ready. Each block is measured and printed as
# "made NAME SECONDS START", which the test compares with the stalls sampler reports.
import json
import socket
import time

# A JSON body of about 450 kB: one json.loads of it takes a few milliseconds, so a decode of
# about 200 ms is a few dozen of them, nearly all of it inside JSONDecoder.raw_decode.
BODY = json.dumps(
    [
        {"id": i, "name": "item %d" % i, "tags": ["a", "b"], "price": i * 1.25, "ok": i % 2 == 0}
        for i in range(5000)
    ]
)


def decode_bodies(seconds):
    # CPU-bound: decodes the body again and again for `seconds`, as a handler that decodes one
    # large request body would.
    end = time.perf_counter() + seconds
    items = 0
    while time.perf_counter() < end:
        items += len(json.loads(BODY))
    return items


def started():
    return time.perf_counter(), time.time()


def made(name, start):
    # "made NAME SECONDS START": how long it blocked, and when it began on the wall clock (as
    # the JSON lines of --stalls say it).
    perf, wall = start
    print("made %s %.4f %.4f" % (name, time.perf_counter() - perf, wall), flush=True)


def listening_socket():
    # Bound by the server itself to a free port of 127.0.0.1: no race with other tests for it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def ready(sock):
    print("ready %d" % sock.getsockname()[1], flush=True)
