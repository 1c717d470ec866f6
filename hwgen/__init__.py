"""hwgen: parameterized accelerator blocks in Amaranth, verified against NumPy golden models."""

from .core.params import ParamError

__version__ = "0.1.0"
__all__ = ["ParamError", "__version__"]
