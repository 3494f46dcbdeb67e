"""App start to window shown, on a real X server (Xvfb), and proof that torch stays off that path.

For a screen-reader user the window's title being announced is the sign that
Iris started; it must come within a second, so the model (torch,
transformers) must load only after the window is up. This measures, for
``--runs`` fresh processes:

* **shown_s**: from spawning the process (the same start-up as ``iris`` /
  ``python -m app`` with no arguments: ``app.cli.main([])``) to the end of the
  main window's ``show()``;
* **first_loop_s**: to the first turn of the Qt event loop after it (the
  window is mapped and painted by then);
* **mapped_s**: measured from outside, to the moment ``xdotool search
  --onlyvisible --name '^Iris$'`` finds the window on the X server;
* whether ``torch``/``transformers`` were imported when the window appeared;
* **capture_s**: one full-screen grab by ``app.capture.screen.ScreenCapture``
  (the describe-screen hotkey's first step), median of 5.

The child process hooks ``IrisApp.show`` only to take the time; everything
else is the real app with default settings in a throw-away IRIS_HOME.

Usage: ``python benchmarks/startup.py [--runs 5] [--json]`` (needs xvfb-run and xdotool).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUIT_AFTER_MS = 1500


def app_child() -> int:
    """Run the real app; report when the window was shown, then quit."""
    sys.path.insert(0, str(REPO))
    import app.gui.app as gui_app

    original_show = gui_app.IrisApp.show
    report: dict[str, object] = {}

    def show(self: gui_app.IrisApp) -> None:
        original_show(self)
        report["shown_at"] = time.time()
        report["torch_imported"] = "torch" in sys.modules
        report["transformers_imported"] = "transformers" in sys.modules
        report["modules"] = len(sys.modules)
        from PySide6.QtCore import QTimer

        def first_loop() -> None:
            report["first_loop_at"] = time.time()
            report["visible"] = bool(self.window.isVisible())
            report["title"] = self.window.windowTitle()

        def finish() -> None:
            from app.capture.screen import ScreenCapture

            times = []
            for _ in range(5):
                start = time.perf_counter()
                ScreenCapture().grab()
                times.append(time.perf_counter() - start)
            report["capture_s"] = round(statistics.median(times), 4)
            report["torch_imported_before_warm_up"] = report["torch_imported"]
            print(json.dumps(report), flush=True)
            self.quit()

        QTimer.singleShot(0, first_loop)
        QTimer.singleShot(QUIT_AFTER_MS, finish)

    gui_app.IrisApp.show = show
    from app.cli import main

    return main([])


def find_window(deadline: float) -> float | None:
    """Poll the X server until a visible window titled exactly 'Iris' exists; return time.time()."""
    while time.time() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^Iris$"],
                               capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return time.time()
        time.sleep(0.005)
    return None


def in_x(runs: int) -> dict:
    rows = []
    for _ in range(runs):
        home = tempfile.mkdtemp(prefix="iris-startup-")
        env = dict(os.environ, IRIS_HOME=home, QT_QPA_PLATFORM="xcb",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        spawned = time.time()
        proc = subprocess.Popen([sys.executable, __file__, "--app-child"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        mapped = find_window(spawned + 20)
        out, err = proc.communicate(timeout=60)
        shutil.rmtree(home, ignore_errors=True)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            rows.append({"error": (err or out).strip().splitlines()[-3:]})
            continue
        child = json.loads(lines[-1])
        rows.append({
            "shown_s": round(child["shown_at"] - spawned, 3),
            "first_loop_s": round(child["first_loop_at"] - spawned, 3) if "first_loop_at" in child else None,
            "mapped_s": round(mapped - spawned, 3) if mapped else None,
            "torch_imported": child["torch_imported"],
            "transformers_imported": child["transformers_imported"],
            "modules": child["modules"],
            "capture_s": child.get("capture_s"),
            "exit_code": proc.returncode,
        })
    good = [r for r in rows if "error" not in r]

    def med(key: str) -> float | None:
        values = [r[key] for r in good if r.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    return {
        "runs": rows,
        "first_run_shown_s": good[0]["shown_s"] if good else None,
        "shown_s": med("shown_s"),
        "first_loop_s": med("first_loop_s"),
        "mapped_s": med("mapped_s"),
        "capture_s": med("capture_s"),
        "torch_on_start_path": any(r["torch_imported"] or r["transformers_imported"] for r in good) if good else None,
        "load_average": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--app-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-x", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.app_child:
        return app_child()
    if args.in_x:
        print(json.dumps(in_x(args.runs)))
        return 0
    if not (shutil.which("xvfb-run") and shutil.which("xdotool")):
        print("xvfb-run and xdotool are needed", file=sys.stderr)
        return 2
    done = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, __file__, "--in-x",
                           "--runs", str(args.runs)], capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        print(done.stderr[-2000:], file=sys.stderr)
        return 1
    report = json.loads(lines[-1])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        print(f"window shown (end of show()): median {report['shown_s']} s, first run {report['first_run_shown_s']} s")
        print(f"first event-loop turn after show: {report['first_loop_s']} s; "
              f"seen mapped by xdotool: {report['mapped_s']} s")
        print(f"torch or transformers imported before the window: {report['torch_on_start_path']}")
        print(f"full-screen capture (1280x800): {report['capture_s']} s; load average {report['load_average']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
