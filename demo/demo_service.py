"""The README demo's target: a small asyncio JSON service and the client that keeps it busy.

It spends its CPU the way real web workers do: parsing and serializing JSON, validating
payloads, formatting log lines, a report built inside the event loop, and now and then an
export of the recent orders, pretty-printed, that blocks the loop for a couple of hundred
milliseconds: the stall README's asyncio incident walk-through finds.
Usage: python3 demo_service.py [SECONDS]   (default: run until killed)
"""
import asyncio
import collections
import json
import logging
import os
import sys
import time

log = logging.getLogger("demo")


def validate_order(order):
    for item in order["items"]:
        if item["quantity"] <= 0 or item["price"] < 0:
            raise ValueError("bad item")
    return True


def price_order(order):
    return sum(item["quantity"] * item["price"] for item in order["items"])


def build_report(orders):
    # CPU work inside the event loop: stalls every other request while it runs.
    totals = {}
    for order in orders:
        for item in order["items"]:
            totals[item["sku"]] = totals.get(item["sku"], 0) + item["quantity"] * item["price"]
    return sorted(totals.items(), key=lambda pair: -pair[1])[:10]


class OrderService:
    def __init__(self):
        self.orders = []
        self.recent = collections.deque(maxlen=600)  # what an export writes
        self.exports = open(os.devnull, "w")

    def export_recent(self):
        # Pretty-printed JSON takes the json module's pure-Python encoder: every other request
        # waits while it runs.
        self.exports.write(json.dumps(list(self.recent), indent=2, sort_keys=True))

    def handle(self, raw):
        order = json.loads(raw)
        validate_order(order)
        total = price_order(order)
        self.orders = (self.orders + [order])[-200:]
        self.recent.append(order)
        log.info("order %s total %.2f items %d", order["id"], total, len(order["items"]))
        if order["id"] % 200 == 0:
            self.export_recent()
        if order["id"] % 50 == 0:
            return json.dumps({"id": order["id"], "report": build_report(self.orders)})
        return json.dumps({"id": order["id"], "total": total, "status": "accepted"})


async def serve(reader, writer, service):
    while True:
        line = await reader.readline()
        if not line:
            break
        writer.write(service.handle(line).encode() + b"\n")
        await writer.drain()
    writer.close()


def make_order(number):
    items = [{"sku": "sku-%d" % (i % 37), "quantity": 1 + i % 5, "price": 2.5 * (i % 11)} for i in range(60)]
    return json.dumps({"id": number, "customer": "customer-%d" % (number % 97), "items": items})


async def client(port, stop_at):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    number = 0
    while stop_at is None or time.monotonic() < stop_at:
        number += 1
        writer.write(make_order(number).encode() + b"\n")
        await writer.drain()
        json.loads(await reader.readline())
    writer.close()


async def main(seconds):
    service = OrderService()
    server = await asyncio.start_server(lambda r, w: serve(r, w, service), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stop_at = time.monotonic() + seconds if seconds > 0 else None
    await asyncio.gather(*(client(port, stop_at) for _ in range(4)))
    server.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=open("/dev/null", "w"))
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 0))
