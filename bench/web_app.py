"""WSGI app for bench/web.py: a JSON endpoint whose work is CPU-bound and the same on every request.

    GET /       builds a dict of ITEMS records (nested dicts, lists, strings, floats) and returns
                json.dumps of it: a few ms of CPU per request, mostly Python code (the building)
                and json's C encoder, like a typical API view.
    GET /ping   returns "ok": no work, to check that the server is up.

Standard library only; nothing random, no I/O, so every request costs the same and the bench's
figures depend only on the server and the profiler. ITEMS can be overridden with the
WEB_APP_ITEMS environment variable (read once, when a worker imports the app).
"""

import json
import os

ITEMS = int(os.environ.get("WEB_APP_ITEMS", "400"))


def record(i):
    # A few levels of nesting and mixed types, so that both the Python building and the encoder
    # have real work to do.
    return {
        "id": i,
        "name": "item-%05d" % i,
        "tags": ["tag%d" % (i * k % 17) for k in range(6)],
        "price": round(i * 1.37 % 100, 2),
        "stock": {"warehouse": i % 7, "shelf": "S%d" % (i % 31), "count": (i * 7919) % 1000},
        "history": [{"day": d, "sold": (i + d * 13) % 50} for d in range(5)],
    }


def build_payload(items):
    records = [record(i) for i in range(items)]
    total = sum(r["stock"]["count"] for r in records)
    return {"count": items, "total_stock": total, "items": records}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/ping":
        body = b"ok"
        content_type = "text/plain"
    elif path == "/":
        body = json.dumps(build_payload(ITEMS)).encode()
        content_type = "application/json"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
