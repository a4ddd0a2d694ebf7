# A Python callback called from C (libc's qsort through ctypes) called from Python.
import ctypes

libc = ctypes.CDLL("libc.so.6")
COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))


def compare_items(a, b):
    x = 0
    for i in range(300):
        x += i
    return a[0] - b[0]


def sort_forever():
    items = (ctypes.c_int * 64)(*range(64, 0, -1))
    compare = COMPARE(compare_items)
    while True:
        libc.qsort(items, len(items), ctypes.sizeof(ctypes.c_int), compare)


sort_forever()
