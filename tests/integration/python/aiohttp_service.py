# An aiohttp server (Debian's python3-aiohttp) on 127.0.0.1, a free port, whose handlers block
# its event loop for known times:
#   GET /decode   decodes JSON for about 200 ms (CPU-bound, in json's raw_decode)
#   GET /sleep    time.sleep(0.15) in the coroutine handler
#   GET /fast     answers at once
# Prints "ready PORT" once it serves, then "made decode|sleep SECONDS START" for each block it
# made.
import asyncio
import time

from aiohttp import web

import server_blocks


async def decode(request):
    start = server_blocks.started()
    items = server_blocks.decode_bodies(0.2)  # MARK: decode
    server_blocks.made("decode", start)
    return web.Response(text="%d\n" % items)


async def sleep(request):
    start = server_blocks.started()
    time.sleep(0.15)  # MARK: sleep
    server_blocks.made("sleep", start)
    return web.Response(text="slept\n")


async def fast(request):
    return web.Response(text="ok\n")


async def main():
    app = web.Application()
    app.add_routes([web.get("/decode", decode), web.get("/sleep", sleep), web.get("/fast", fast)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = server_blocks.listening_socket()
    await web.SockSite(runner, sock).start()
    server_blocks.ready(sock)
    await asyncio.Event().wait()


asyncio.run(main())
