"""Is a capture blank? (locked screen, screen curtain, a solid colour, faint noise)

A blank screen must not be sent to the model (it would invent a description),
yet a single line of small text on white must count as content. The test is
"how many pixels differ clearly from the dominant colour", on a box-averaged
copy: averaging blocks of pixels wipes out sensor/dither noise and JPEG grain
but keeps text strokes, which are spatially clustered; "clearly" is measured
against the frame's own noise floor. All of it runs in Pillow's C loops, so a
4K frame costs about 10 ms.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageStat

#: Long side of the working copy; larger images are box-averaged down to about this.
WORK_SIZE = 1024
#: A working-copy pixel further than this (0-255, any channel) from the dominant colour is "ink".
INK_DELTA = 18
#: ... raised to NOISE_FACTOR x the typical deviation on noisy frames, but never above MAX_INK_DELTA.
NOISE_FACTOR = 5.0
MAX_INK_DELTA = 48
#: Content needs at least this many ink pixels (and this fraction of the image) ...
MIN_INK_PIXELS = 4
MIN_INK_FRACTION = 1e-5


def is_blank(image: Image.Image) -> bool:
    """True when the image is one colour give or take faint noise; False for any real content."""
    work = _working_copy(image)
    total = work.size[0] * work.size[1]
    if total == 0:
        return True
    # Everything below runs in Pillow's C loops on 8-bit planes: no per-pixel Python or numpy.
    median = [int(v) for v in ImageStat.Stat(work).median]
    dominant = tuple(median) if work.mode == "RGB" else median[0]
    diff = ImageChops.difference(work, Image.new(work.mode, work.size, dominant))
    deviation = diff
    if diff.mode == "RGB":
        r, g, b = diff.split()
        deviation = ImageChops.lighter(ImageChops.lighter(r, g), b)
    histogram = deviation.histogram()  # 256 bins of "how far from the dominant colour"
    # Raise the bar above the frame's own noise floor (the typical deviation), within limits.
    noise_floor = _median_bin(histogram, total)
    threshold = int(min(max(INK_DELTA, NOISE_FACTOR * noise_floor), MAX_INK_DELTA))
    ink = sum(histogram[threshold + 1 :])
    needed = max(MIN_INK_PIXELS, int(total * MIN_INK_FRACTION))
    return ink < needed


def _median_bin(histogram: list[int], total: int) -> int:
    running = 0
    for value, count in enumerate(histogram):
        running += count
        if running * 2 >= total:
            return value
    return len(histogram) - 1


def _working_copy(image: Image.Image) -> Image.Image:
    """RGB, box-averaged so the long side is at most WORK_SIZE (and at least halved when large).

    Halving even mid-sized images averages 4 pixels, which halves random noise.
    """
    if image.mode not in ("RGB", "L"):  # RGBA, P, I;16...: judge what a viewer would see
        image = image.convert("RGB")
    long_side = max(image.size)
    factor = -(-long_side // WORK_SIZE)  # ceil
    if long_side >= 256:
        factor = max(factor, 2)
    if factor > 1:
        image = image.reduce(factor)
    return image
