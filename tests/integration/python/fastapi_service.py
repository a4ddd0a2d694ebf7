# A FastAPI app under uvicorn (Debian's python3-fastapi and python3-uvicorn), on asyncio's own
# loop (not uvloop, even where it is installed), on 127.0.0.1 and a free port. Its handlers block
# the event loop for known times, as aiohttp_service.py's do:
#   GET /decode   decodes JSON for about 200 ms (CPU-bound, in json's raw_decode)
#   GET /sleep    time.sleep(0.15) in the coroutine handler
#   GET /fast     answers at once
# Prints "ready PORT" once it serves, then "made decode|sleep SECONDS START" for each block it
# made.
import time

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

import server_blocks

app = FastAPI()
sock = server_blocks.listening_socket()


@app.get("/decode", response_class=PlainTextResponse)
async def decode():
    start = server_blocks.started()
    items = server_blocks.decode_bodies(0.2)  # MARK: decode
    server_blocks.made("decode", start)
    return "%d\n" % items


@app.get("/sleep", response_class=PlainTextResponse)
async def sleep():
    start = server_blocks.started()
    time.sleep(0.15)  # MARK: sleep
    server_blocks.made("sleep", start)
    return "slept\n"


@app.get("/fast", response_class=PlainTextResponse)
async def fast():
    return "ok\n"


@app.on_event("startup")
async def on_startup():
    server_blocks.ready(sock)


config = uvicorn.Config(
    app, loop="asyncio", http="h11", lifespan="on", access_log=False, log_level="warning"
)
uvicorn.Server(config).run(sockets=[sock])
