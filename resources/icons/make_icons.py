"""Render iris.png (256 px), iris.ico (Windows) and iris.icns (macOS) from the same circles as iris.svg.

Run once after changing the design: ``python resources/icons/make_icons.py``.
Pillow draws the circles itself, so no SVG renderer is needed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
# (radius, colour, centre) in the SVG's 256 x 256 units
CIRCLES = ((120, "#ffffff", (128, 128)), (112, "#1f5fbf", (128, 128)), (84, "#3d8ee6", (128, 128)),
           (50, "#111111", (128, 128)), (14, "#ffffff", (150, 106)))


def render(size: int) -> Image.Image:
    scale = 4  # draw large, then shrink: smooth edges
    big = Image.new("RGBA", (size * scale, size * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    unit = size * scale / 256
    for radius, colour, (cx, cy) in CIRCLES:
        draw.ellipse(((cx - radius) * unit, (cy - radius) * unit, (cx + radius) * unit, (cy + radius) * unit),
                     fill=colour)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    icon = render(256)
    icon.save(HERE / "iris.png")
    icon.save(HERE / "iris.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    render(512).save(HERE / "iris.icns")


if __name__ == "__main__":
    main()
