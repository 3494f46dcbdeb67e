"""Where does the engine's CUDA decode time go? One-off diagnostic behind gpu-h100-thread-diag.json.

Real-size SmolVLM-256M (random weights), 64 forced tokens, decode tokens/s of:
the engine's stream(); generate() with a TextIteratorStreamer on the calling
thread; the same generate() on a worker thread with the caller consuming the
streamer (the engine's pattern), with and without a StoppingCriteria; and the
engine with its cancel hooks removed / with one CPU thread.
Run from the repository root on the GPU machine: ``bash benchmarks/gpu_run.sh diag``.
"""
import json, os, sys, threading, time
sys.path.insert(0, "benchmarks")
import torch
import archs
from latency import make_forcer
from app.engine.transformers_engine import TransformersEngine
from app.engine.base import Conversation
from PIL import Image
from transformers import TextIteratorStreamer, StoppingCriteria, StoppingCriteriaList
N = 64
d = archs.build_model_dir("smolvlm-256m", device="cuda")
im = Image.open("benchmarks/data/screenshot-1280x800.png").convert("RGB")
res = {}
def conv():
    c = Conversation(image=im); c.ask("Describe."); return c
for prec in ("bf16", "nf4"):
    e = TransformersEngine(d, device="cuda", settings={"preset": "fast"}, precision=prec); e.load()
    m, p = e._model, e._processor
    def eng():
        list(e.stream(conv(), max_new_tokens=N, min_new_tokens=N)); s = e.last_stats
        return round((s.output_tokens - 1) / (s.total_s - s.first_token_s), 1)
    x = e._inputs(conv(), torch)
    def gen(streamer=False, thread=False, stop=False):
        kw = dict(x, max_new_tokens=N, min_new_tokens=N, do_sample=False)
        kw["logits_processor"] = [make_forcer([100] * N)]
        t = {}
        class St(TextIteratorStreamer):
            def put(self, v):
                if not self.next_tokens_are_prompt: t.setdefault("first", time.perf_counter())
                super().put(v)
        st = St(p.tokenizer, skip_prompt=True) if streamer else None
        if st: kw["streamer"] = st
        if stop:
            class S(StoppingCriteria):
                def __call__(self, ids, scores, **k):
                    return torch.full((ids.shape[0],), False, dtype=torch.bool, device=ids.device)
            kw["stopping_criteria"] = StoppingCriteriaList([S()])
        def run():
            with torch.inference_mode(): m.generate(**kw)
        if thread:
            th = threading.Thread(target=run); th.start()
            for _ in st: pass
            th.join()
        else:
            run()
        torch.cuda.synchronize(); end = time.perf_counter()
        return round((N - 1) / (end - t["first"]), 1) if "first" in t else None
    row = {}
    for rep in range(2):
        row["engine"] = eng()
        row["streamer_main"] = gen(streamer=True)
        row["streamer_thread"] = gen(streamer=True, thread=True)
        row["streamer_thread_stop"] = gen(streamer=True, thread=True, stop=True)
    hooks = list(e._hooks)
    for h in hooks: h.remove()
    row["engine_no_hooks"] = eng()
    row["streamer_main_no_hooks"] = gen(streamer=True)
    torch.set_num_threads(1)
    row["engine_no_hooks_1thread"] = eng()
    torch.set_num_threads(os.cpu_count())
    res[prec] = row
    print(prec, json.dumps(row), flush=True)
    e.unload()
json.dump(res, open(os.environ.get("OUT", "/tmp") + "/diag.json", "w"))
