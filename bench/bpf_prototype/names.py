import struct, sys
pid = int(sys.argv[1])
mem = open(f"/proc/{pid}/mem", "rb")
def rd(a, n):
    mem.seek(a); return mem.read(n)
def u64(a): return struct.unpack("<Q", rd(a, 8))[0]
for line in open("last.txt"):
    code, instr = (int(x, 16) for x in line.split())
    q = u64(code + 128)
    length = u64(q + 16)
    name = rd(q + 40, min(length, 80)).decode("ascii", "replace")
    first = struct.unpack("<i", rd(code + 68, 4))[0]
    print(name, first, hex(instr - code - 192))
