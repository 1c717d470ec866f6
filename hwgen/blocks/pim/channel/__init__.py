from .rtl import PimChannel  # noqa: F401  (importing registers)
