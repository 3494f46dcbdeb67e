"""Whether llama.cpp's extra CPU buffer types (AMX, weight repacking) are safe to use here.

llama-cpp-python compiles llama.cpp for the build machine's CPU (-march=native).
Where the CPU advertises Intel AMX (Xeon Sapphire Rapids and later), ggml puts
quantized weights in an AMX buffer. With llama-cpp-python 0.3.36 on the 2-core
build VM (AMX advertised, and usable: a hand-written ldtilecfg + tilezero runs)
the first 4-bit model evaluation killed the whole process with SIGILL on a
``tilezero`` inside libggml-cpu's AMX kernels (dmesg: "trap invalid opcode").
A crash would take the user's reading aid down with it, so on CPUs that
advertise AMX Iris loads GGUF models without extra buffer types (no AMX, no
repacking): slower matrix kernels, but no crash. Laptop CPUs have no AMX and
keep the fast path. ``IRIS_LLAMA_EXTRA_BUFFERS=1`` turns them back on (=0 off).
"""

from __future__ import annotations

import os

ENV = "IRIS_LLAMA_EXTRA_BUFFERS"


def cpu_advertises_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


def llama_extra_buffers_ok() -> bool:
    """True unless the CPU advertises AMX (or the environment says otherwise)."""
    choice = os.environ.get(ENV, "").strip()
    if choice in ("0", "1"):
        return choice == "1"
    return not cpu_advertises_amx()
