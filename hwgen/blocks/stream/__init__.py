"""Generic stream adapters: ``stream_split`` and ``stream_fork``."""

from .rtl import StreamFork, StreamSplit

__all__ = ["StreamFork", "StreamSplit"]
