"""Vision-language engines. torch/transformers are imported only inside
``app.engine.transformers_engine``, lazily, so importing this package is cheap."""
