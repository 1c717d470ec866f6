from .rtl import PimBankMac  # noqa: F401  (importing registers)
