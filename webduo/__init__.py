"""webduo: one route table served by a synchronous socket server and by aiohttp."""

from importlib.metadata import PackageNotFoundError, version


try:
    __version__ = version("webduo")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
