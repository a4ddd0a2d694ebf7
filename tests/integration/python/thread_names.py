# Threads named through `threading`, their attributes stored each way CPython can keep an
# instance's attributes: shared-key values, a materialized dict (vars()), a dict grown past the
# shared keys, one with a deleted attribute, and a subclass. All sleep. Python 2.7 and 3.x.
# Prints "ready" once every thread has named itself and set its attributes.
import sys
import threading
import time

set_up = threading.Semaphore(0)


def sleep_forever():
    set_up.release()
    time.sleep(1000)


def plain():
    sleep_forever()


def with_vars():
    vars(threading.current_thread())
    sleep_forever()


def many_attributes():
    thread = threading.current_thread()
    for i in range(40):
        setattr(thread, "a%d" % i, i)
    sleep_forever()


def deleted_attribute():
    thread = threading.current_thread()
    thread.extra = 1
    del thread.extra
    sleep_forever()


class Worker(threading.Thread):
    pass


for target, name in ((plain, "plain"), (with_vars, "with-vars"), (many_attributes, "many-attributes"),
                     (deleted_attribute, "deleted-attribute")):
    thread = threading.Thread(target=target, name="py-" + name)
    thread.daemon = True
    thread.start()
worker = Worker(target=plain, name="py-subclass")
worker.daemon = True
worker.start()
for _ in range(5):
    set_up.acquire()
print("ready")
sys.stdout.flush()
while True:
    time.sleep(1000)
