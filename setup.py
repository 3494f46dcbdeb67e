"""Package layout only (metadata is in pyproject.toml).

The source stays in ``app/`` (``python -m app`` works in a checkout) but is
installed as ``iris_assistant``: a top-level package called ``app`` would clash
with any other installed project's. Every module imports its siblings
relatively, so the same files work under either name. ``models/`` and
``resources/`` stay at the repository's top and are shipped inside the
package, where :func:`app.paths.bundled_dir` finds them.
"""

from setuptools import find_packages, setup

NAME = "iris_assistant"

setup(
    package_dir={NAME: "app", f"{NAME}.models": "models", f"{NAME}.resources": "resources"},
    packages=[NAME, *(f"{NAME}.{sub}" for sub in find_packages("app")), f"{NAME}.models", f"{NAME}.resources"],
    package_data={
        f"{NAME}.models": ["*.json", "*.md"],
        # What the running app reads: earcons, the desktop entry and its icon (not the
        # README screenshot, nor the .ico/.icns that only the PyInstaller build uses).
        f"{NAME}.resources": ["earcons/*.wav", "desktop/*.desktop", "icons/*.svg", "icons/*.png"],
    },
    include_package_data=False,
)
