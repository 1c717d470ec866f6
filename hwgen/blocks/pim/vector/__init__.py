from .rtl import PimVectorUnit  # noqa: F401  (importing registers)
