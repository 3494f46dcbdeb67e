"""Keep third-party libraries from phoning home.

Iris promises that nothing leaves the computer except the model download.
Some libraries it uses send usage telemetry by default: onnxruntime 1.2x+
(the OCR engine) starts Microsoft's 1DS telemetry on Linux too -- it writes a
device id under ``~/.cache/Microsoft/DeveloperTools`` and, seconds later,
looks up ``mobile.events.data.microsoft.com`` -- and Hugging Face libraries
send usage pings on some calls. :func:`disable_library_telemetry` switches
all of them off; it must run before those libraries are imported (the
environment variables are read at import or at engine creation), and is
cheap and idempotent, so every entry point may call it.
"""

from __future__ import annotations

import os
import sys

#: Environment switches honoured by the libraries Iris uses (forced, not defaults:
#: a privacy promise does not depend on the user's environment).
TELEMETRY_OFF = {
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime (rapidocr)
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub / transformers
    "DO_NOT_TRACK": "1",  # honoured by huggingface_hub and others
}


def disable_library_telemetry() -> None:
    """Turn telemetry off in the environment and in any library already imported."""
    os.environ.update(TELEMETRY_OFF)
    ort = sys.modules.get("onnxruntime")
    if ort is not None:
        try:
            ort.disable_telemetry_events()
        except Exception:  # noqa: BLE001 - an old onnxruntime without the switch
            pass
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        try:
            constants.HF_HUB_DISABLE_TELEMETRY = True  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            pass
