# Prints "tid=tstate" for each thread state of a CPython 3.12 process (pyenv build, libpython).
import struct, sys
pid = int(sys.argv[1])
lib = "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"
runtime_offset = 0x643340
base = None
for line in open(f"/proc/{pid}/maps"):
    parts = line.split()
    if len(parts) >= 6 and parts[5] == lib and int(parts[2], 16) == 0:
        base = int(parts[0].split("-")[0], 16)
        break
mem = open(f"/proc/{pid}/mem", "rb")
def u64(addr):
    mem.seek(addr)
    return struct.unpack("<Q", mem.read(8))[0]
interp = u64(base + runtime_offset + 40)
tstate = u64(interp + 72)
out = []
while tstate and len(out) < 100:
    tid = u64(tstate + 144) & 0xffffffff
    out.append(f"{tid}={tstate:#x}")
    tstate = u64(tstate + 8)
print(" ".join(out))
