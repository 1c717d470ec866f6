"""The registered blocks. ``get(name, **params)`` builds one; ``names()`` lists them."""

from __future__ import annotations

from ..core.block import Block, registry
from ..core.params import ParamError
from . import mac_array, requant  # noqa: F401  (importing a block family registers it)
from . import fp  # noqa: F401  (fp_mul, fp_add)
from . import pim  # noqa: F401  (pim_bank_mac, pim_channel, pim_vector_unit, adapters)
from . import attention  # noqa: F401  (attention_engine)
from . import omap  # noqa: F401  (omap_controller)
from . import spgemm  # noqa: F401  (spgemm_hash)
from . import stream  # noqa: F401  (stream_split, stream_fork)


def names() -> list[str]:
    return list(registry())


def block_class(name: str) -> type[Block]:
    blocks = registry()
    if name not in blocks:
        raise ParamError(f"unknown block {name!r}; the blocks are {', '.join(blocks)}")
    return blocks[name]


def get(name: str, **params) -> Block:
    """An instance of block ``name`` with ``params`` (the rest at their defaults)."""
    return block_class(name)(**params)
