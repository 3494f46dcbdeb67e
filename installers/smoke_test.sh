#!/usr/bin/env bash
# Build the one-folder Linux app with PyInstaller and use it as a person would:
# the window opens under Xvfb and offers the model download, `iris describe` a
# picture with the tiny test model, `iris read`, `iris speak --wav`, and the
# desktop entry. Run from anywhere; .ci/run calls it after the tests.
#   PYTHON=path/to/python  (default .venv/bin/python: Iris, torch and PyInstaller installed)
#   IRIS_BUNDLE_DIST=dir   (default dist/: the app lands in dir/iris)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
DIST=${IRIS_BUNDLE_DIST:-$ROOT/dist}
WORK=$(mktemp -d)
XVFB_PID=""
APP_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null || true
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "SMOKE TEST FAILED: $*" >&2; exit 1; }
step() { printf '\n-- %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "build"
start=$(date +%s)
"$PY" installers/build.py --dist "$DIST"
build_seconds=$(( $(date +%s) - start ))
APP="$DIST/iris/iris"
[ -x "$APP" ] || fail "no $APP"
size_mb=$(du -sm "$DIST/iris" | cut -f1)

# Everything below runs from / with a fresh profile: nothing from the checkout can stand in.
export IRIS_HOME="$WORK/home"
cd /

step "iris --version"
"$APP" --version

step "iris speak --wav"
"$APP" speak "Hello from the Iris app bundle." --wav "$WORK/hello.wav"
head -c 4 "$WORK/hello.wav" | grep -q RIFF || fail "speak wrote no WAV"
[ "$(stat -c %s "$WORK/hello.wav")" -gt 10000 ] || fail "the WAV is too short"

step "iris read"
"$PY" - "$WORK/text.png" <<'EOF'
import sys
from PIL import Image, ImageDraw, ImageFont
image = Image.new("RGB", (900, 200), "white")
try:
    font = ImageFont.truetype("DejaVuSans.ttf", 48)
except OSError:
    font = ImageFont.load_default(48)
ImageDraw.Draw(image).text((30, 60), "Invoice total 42 euros", fill="black", font=font)
image.save(sys.argv[1])
EOF
"$APP" read "$WORK/text.png" --no-speak | tee "$WORK/read.txt"
grep -qi "invoice" "$WORK/read.txt" || fail "read did not find the text"

step "iris describe with the tiny test model"
(cd "$ROOT" && "$PY" -c "import sys; from tests.tiny_model import build_tiny_smolvlm; build_tiny_smolvlm(sys.argv[1])" "$WORK/tiny") \
  >/dev/null 2>&1 || fail "could not build the tiny model (is ../shared beside the checkout?)"
"$APP" describe "$WORK/text.png" --model "$WORK/tiny" --max-new-tokens 16 --no-speak --json > "$WORK/describe.json"
"$PY" -c "import json,sys; a=json.load(open(sys.argv[1])); assert a['kind']=='describe' and a['text'].strip() and a['output_tokens']>0, a; print('describe:', a['model'], a['output_tokens'], 'tokens')" "$WORK/describe.json"

step "desktop entry"
XDG_DATA_HOME="$WORK/share" "$APP" desktop-entry install
grep -q "^Exec=$APP$" "$WORK/share/applications/iris.desktop" || fail "the menu entry does not start the bundle"
[ -s "$WORK/share/icons/hicolor/256x256/apps/iris.png" ] || fail "no icon"

step "the window under Xvfb"
Xvfb -displayfd 5 -screen 0 1280x800x24 -nolisten tcp 5>"$WORK/display" >/dev/null 2>&1 &
XVFB_PID=$!
for _ in $(seq 1 60); do [ -s "$WORK/display" ] && break; sleep 0.25; done
display=$(head -n 1 "$WORK/display")
[ -n "$display" ] || fail "Xvfb did not start"
export DISPLAY=":$display"
"$APP" > "$WORK/gui.log" 2>&1 &
APP_PID=$!
found=""
for _ in $(seq 1 120); do
  if xdotool search --name "^Install a vision model" >/dev/null 2>&1 && xdotool search --name "^Iris$" >/dev/null 2>&1; then
    found=yes
    break
  fi
  kill -0 "$APP_PID" 2>/dev/null || { cat "$WORK/gui.log"; fail "the app exited"; }
  sleep 0.5
done
[ -n "$found" ] || { cat "$WORK/gui.log"; fail "no Iris window offering the model download within 60 s"; }
if command -v import >/dev/null && [ -n "${IRIS_SMOKE_SCREENSHOT:-}" ]; then
  import -window root "$IRIS_SMOKE_SCREENSHOT"
fi
kill "$APP_PID"; wait "$APP_PID" 2>/dev/null || true; APP_PID=""

echo
echo "bundle smoke test passed: $DIST/iris, ${size_mb} MB, built in ${build_seconds} s"
