"""Whether llama.cpp's extra CPU buffer types (AMX, weight repacking) are safe to use here.

llama-cpp-python compiles llama.cpp for the build machine's CPU (-march=native).
Where the CPU advertises Intel AMX (Xeon Sapphire Rapids and later), ggml puts
quantized weights in an AMX buffer. With llama-cpp-python 0.3.36 on the 2-core
build VM (AMX advertised, and usable: a hand-written ldtilecfg + tilezero runs)
the first 4-bit model evaluation killed the whole process with SIGILL on a
``tilezero`` inside libggml-cpu's AMX kernels (dmesg: "trap invalid opcode").
The cause is the compiler (GCC 12.2): its dead-store elimination drops the
tile configuration's row/column stores before ``ldtilecfg``, so every tile has
zero rows; ``-fno-dse`` avoids it, but that AMX path was no faster here
(benchmarks/README.md), and a build cannot tell which way it was compiled.
A crash would take the user's reading aid down with it, so where both the CPU
advertises AMX and the installed llama.cpp was built with its AMX kernels, Iris
loads GGUF models without extra buffer types (no AMX, no repacking): slower
matrix kernels, but no crash. A build without AMX (``CMAKE_ARGS="-DGGML_AMX_TILE=OFF
-DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"``, benchmarks/README.md) keeps the fast
repacked kernels on such CPUs, and laptop CPUs have no AMX at all.
``IRIS_LLAMA_EXTRA_BUFFERS=1`` turns them on regardless (=0 off).
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


def build_has_amx(system_info: str) -> bool:
    """Whether llama.cpp's ``llama_print_system_info()`` lists AMX kernels (e.g. ``AMX_INT8 = 1``)."""
    return any(part.strip().startswith("AMX") and part.strip().endswith("= 1") for part in system_info.split("|"))


def llama_extra_buffers_ok(system_info: str | None = None) -> bool:
    """True unless an AMX CPU meets an AMX build of llama.cpp (or the environment says otherwise).

    ``system_info`` is ``llama_cpp.llama_print_system_info()``, read when not given.
    """
    choice = os.environ.get(ENV, "").strip()
    if choice in ("0", "1"):
        return choice == "1"
    if not cpu_advertises_amx():
        return True
    if system_info is None:
        import llama_cpp

        system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return not build_has_amx(system_info)
