"""PIM-GPT family: processing-in-memory MAC units in GDDR6 banks, the channel with its timed
command controller, the ASIC vector unit, the weight mapping and the GPT decode model.
See docs/pim.md."""

# Importing a block module registers it; each module adds its own line below.
from . import vector  # noqa: F401
from . import bank  # noqa: F401
from . import channel  # noqa: F401
from . import adapters  # noqa: F401
from . import gpt  # noqa: F401  (registers the system model: hwgen model pim-gpt)
