"""The capture interface: something that hands over one RGB image on request."""

from __future__ import annotations

from abc import ABC, abstractmethod

from PIL import Image


class CaptureSource(ABC):
    """A source of single frames. ``grab`` raises app.errors.CaptureError on failure."""

    #: How the source is named to the user ("the screen", "monitor 2", "the camera").
    label: str = "the image"
    #: Whether the image is a screenshot (selects the screen prompt).
    is_screen: bool = False

    @abstractmethod
    def grab(self) -> Image.Image:
        """Return an RGB image."""
