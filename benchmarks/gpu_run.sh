#!/usr/bin/env bash
# What runs on a lent GPU machine (one H100 here): the latency benchmark with the
# 2.2B architecture in 4-bit, its levers, and the 256M model, into $OUT.
#
#   bash benchmarks/gpu_run.sh [full] [main] [levers[=LABEL,LABEL]] [small] [llamacpp] [diag]   (default: full)
#
# full = main + levers in one report (one default Iris run serves both).
#
# The machine has python3 with torch (CUDA) but no bitsandbytes, an older
# transformers, no espeak-ng and no ../shared folder. benchmarks/out/latency/gpu/
# (git-ignored, carried with the call; see benchmarks/README.md for how it is made) holds:
#   whl/      transformers 5.23.0 wheel (the version measured on the CPU side)
#   site/     bitsandbytes 0.50.2 (CUDA 13.0/13.2 and CPU libraries only), platformdirs
#   espeak/   espeak-ng 1.51 from this Debian machine: binary, its shared libraries and
#             the English voice data, run through a wrapper (its libraries never leak
#             into the python process)
#   model/    the SmolVLM-256M config, tokenizer and processor (as ../shared/models/...)
#   chelsea.png  the photo
set -u
cd "$(dirname "$0")/.."
G=$PWD/benchmarks/out/latency/gpu
OUT=${OUT:-/tmp/iris-gpu-out}
mkdir -p "$OUT"
LOG=$OUT/gpu-log.txt
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ ! -d /tmp/site/transformers ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$G"/whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$G/site:$PWD
if ! python3 -c 'import transformers' >/dev/null 2>&1; then
  echo "transformers 5.23 does not import here; using the machine's own" | tee -a "$LOG"
  export PYTHONPATH=$G/site:$PWD
fi
mkdir -p /tmp/espeak-bin
cat > /tmp/espeak-bin/espeak-ng <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$G/espeak/lib" ESPEAK_DATA_PATH="$G/espeak" exec "$G/espeak/bin/espeak-ng" "\$@"
EOF
chmod +x /tmp/espeak-bin/espeak-ng "$G/espeak/bin/espeak-ng"
export PATH=/tmp/espeak-bin:$PATH
export IRIS_BENCH_SOURCE=$G/model IRIS_BENCH_PHOTO=$G/chelsea.png

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
  python3 -c 'import sys, torch, transformers, tokenizers, huggingface_hub, bitsandbytes as b; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "hub", huggingface_hub.__version__, "bnb", b.__version__)'
  echo "Hello, this is a test." | espeak-ng --stdin -w /tmp/espeak-test.wav && echo "espeak-ng ok: $(stat -c %s /tmp/espeak-test.wav) bytes"
  nproc; uptime
} 2>&1 | tee -a "$LOG"

phases=${*:-full}
for phase in $phases; do
  case $phase in
    full)
      python3 benchmarks/latency.py --device cuda --arch smolvlm2-2.2b --levers --child-timeout 200 \
        --out "$OUT/gpu-smolvlm2-2.2b.json" 2>&1 | grep -v "Loading weights" | tee -a "$LOG" ;;
    main)
      python3 benchmarks/latency.py --device cuda --arch smolvlm2-2.2b --child-timeout 300 \
        --out "$OUT/gpu-smolvlm2-2.2b.json" 2>&1 | grep -v "Loading weights" | tee -a "$LOG" ;;
    levers*)
      names=${phase#levers}; names=${names#=}
      python3 benchmarks/latency.py --device cuda --arch smolvlm2-2.2b --inputs screenshot --no-naive --levers \
        ${names:+--lever-names "$names"} --child-timeout 240 --out "$OUT/gpu-smolvlm2-2.2b-levers.json" 2>&1 \
        | grep -v "Loading weights" | tee -a "$LOG" ;;
    small)
      python3 benchmarks/latency.py --device cuda --arch smolvlm-256m --child-timeout 200 \
        --out "$OUT/gpu-smolvlm-256m.json" 2>&1 | grep -v "Loading weights" | tee -a "$LOG" ;;
    llamacpp)  # llama.cpp CUDA (Q4_K_M + bf16 mmproj, all layers offloaded) next to transformers nf4.
      # Needs a CUDA build of llama-cpp-python carried in $G/llama-site (CMAKE_ARGS="-DGGML_CUDA=on"
      # pip install llama-cpp-python==0.3.36, about 20 minutes) and the GGUF pair made on the CPU
      # machine in benchmarks/out/latency/gguf/smolvlm2-2.2b/ (benchmarks/engines.py). NOT run yet:
      # no GPU was lent to the session that wrote it.
      PYTHONPATH=$G/llama-site:$PYTHONPATH python3 benchmarks/latency.py --engine transformers,llamacpp --device cuda \
        --arch smolvlm2-2.2b --runs 3 --json > "$OUT/gpu-engines-smolvlm2-2.2b.json" 2>>"$LOG"
      tail -n 40 "$OUT/gpu-engines-smolvlm2-2.2b.json" | tee -a "$LOG" ;;
    diag)  # where the engine's CUDA decode time goes (threaded streamer vs generate() on the caller)
      python3 benchmarks/results/gpu_thread_diag.py 2>&1 | grep -v "Loading weights" | tee -a "$LOG" ;;
    *) echo "unknown phase $phase" ;;
  esac
done
