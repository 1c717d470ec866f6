from .rtl import AccToBf16, HostSplice  # noqa: F401  (importing registers)
