# A known 3:1 CPU split between two Python callers of one function (Python 2.7 and 3.x).
def burn(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def heavy():
    return burn(30000)  # MARK: heavy-call


def light():
    return burn(10000)


def main():
    while True:
        heavy()
        light()
import sys  # "ready": the tests start sampling once the loop is about to run (lines kept)
sys.stdout.write("ready\n"), sys.stdout.flush()
main()
