"""``rlit serve``: the composite reward behind an HTTP server (OpenRLHF's protocol and rlit's own),
and the one-thread micro-batching scorer that the verl entry point shares."""

from rlit.serving.batcher import MicroBatcher
from rlit.serving.protocol import ServeSettings

__all__ = ["MicroBatcher", "ServeSettings"]
