# A WSGI app for a gunicorn worker pool in which one worker only is hot (Python 3).
# GET /hot: the worker that receives it starts burning CPU in a thread of its own, for good,
# and answers with its PID; the other workers stay idle. Any other path answers at once.
import os
import threading

_hot = []


def burn(parent):
    # One function with no calls in its loop: every sample of it reads the same innermost frame.
    x = 0
    while True:
        x = (x * 31 + 7) % 1000003
        if x == 0 and os.getppid() != parent:
            os._exit(0)  # the master is gone: the test is over


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/hot" and not _hot:
        thread = threading.Thread(target=burn, args=(os.getppid(),), name="burner")
        thread.daemon = True
        thread.start()
        _hot.append(thread)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
