"""Iris: a local assistant that describes screens, photos and camera frames aloud.

The core (everything under ``app`` except ``app.gui``) never imports Qt, and
imports torch/transformers only inside the model engine, lazily.
"""

__version__ = "0.1.0"
APP_NAME = "Iris"
APP_ID = "iris"
