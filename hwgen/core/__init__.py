"""The block API: parameters, blocks, estimates and the registry."""

from .block import Block, Estimate, register, registry
from .params import Param, ParamError, ParamSet, params_hash

__all__ = ["Block", "Estimate", "Param", "ParamError", "ParamSet", "params_hash", "register",
           "registry"]
