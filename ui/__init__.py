"""The web chat: ``build_app(answerer, library)`` makes the page, ``launch(app)`` serves it on 127.0.0.1."""

import os

# Gradio reads this when it is imported; the app never phones home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

__all__ = ["build_app", "launch"]


def __getattr__(name: str):
    if name in __all__:
        from ui import app

        return getattr(app, name)
    raise AttributeError(name)
