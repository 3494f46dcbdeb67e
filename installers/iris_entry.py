"""The program the PyInstaller bundle starts: the same ``iris`` command as a pip install."""

import multiprocessing
import sys

from iris_assistant.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch and onnxruntime may start helper processes
    sys.exit(main())
