# Load for the test servers: load_client.py PORT [SECONDS]. Short GET /fast requests back to
# back from two threads, and from a third one slow request after another (/decode, then /sleep),
# so short requests queue behind each block and run in between. Each request is a connection of
# its own, to 127.0.0.1 only. Warms the server up with one request of each kind, then prints
# "warm". Stops by itself after SECONDS (default 120), or when the server has gone.
import http.client
import sys
import threading
import time

port = int(sys.argv[1])
deadline = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 120)
max_requests = 100000  # per thread: a bound besides the deadline
stop = threading.Event()


def get(path):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path, headers={"Connection": "close"})
            response = connection.getresponse()
            response.read()
            return response.status == 200
        finally:
            connection.close()
    except OSError:
        stop.set()  # the server has gone: nothing left to load
        return False


def fast():
    for _ in range(max_requests):
        if stop.is_set() or time.monotonic() > deadline or not get("/fast"):
            return
        time.sleep(0.005)


def slow():
    for _ in range(max_requests):
        for path in ("/decode", "/sleep"):
            if stop.is_set() or time.monotonic() > deadline or not get(path):
                return
            time.sleep(0.3)


for path in ("/fast", "/decode", "/sleep"):
    if not get(path):
        sys.exit("load_client: GET %s failed" % path)
print("warm", flush=True)
threads = [threading.Thread(target=target) for target in (fast, fast, slow)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
