"""Parameters of ``omap_controller`` and the geometry they imply (docs/omap.md, "Layout")."""

from __future__ import annotations

from dataclasses import dataclass

from ...core.ints import value_bits
from ...core.params import Param, ParamSet

PLACEMENTS = ("uniform", "two_choice")
LEAKS = ("none", "no_dummy_read")

# request ops
GET, PUT, DELETE, LOAD = 0, 1, 2, 3
# position-map entry states
IN_HBM, QUEUED, IN_HOST = 0, 1, 2
# response errors (the map's answer: predictable from the keys alone)
ERR_NONE, ERR_BUCKET_FULL, ERR_MAP_FULL = 0, 1, 2
# events on the ``events`` observation port
EV_BUCKET_FULL, EV_MAP_FULL, EV_QUEUE_FULL, EV_INTEGRITY = 1, 2, 3, 4

HASH_MULTIPLIER = 0x9E3779B1   # Knuth's multiplicative hash (2^32 / golden ratio, odd)
COIN_BITS = 16                 # alpha is applied as coin < round(alpha * 2^16)
FIELD_BITS = 24                # each page draw takes 24 bits of a random block
NONCE_BITS = 64                # per page write; the slot index fills the low 64 counter bits
SLOT_BLOCK_BITS = 128          # one AES block per slot


def _rules(p):
    if 1 + p["key_width"] + p["value_width"] > SLOT_BLOCK_BITS:
        return (f"key_width={p['key_width']} + value_width={p['value_width']} + 1 valid bit "
                f"exceeds one AES block: allowed key_width + value_width <= 127")
    return None


PARAMS = ParamSet(
    params=(
        Param("capacity", int, 1024, "most keys the map holds (N)", min=16, max=1 << 22),
        Param("key_width", int, 32, "key bits", min=8, max=64),
        Param("value_width", int, 32, "value bits", min=8, max=64),
        Param("slots", int, 8, "slots per host page", choices=(2, 4, 8, 16)),
        Param("alpha", float, 0.2, "chance that an accessed element stays in HBM "
              "(applied in steps of 2^-16)", min=0.0, max=1.0),
        Param("placement", str, "uniform", "uniform (a random page) or two_choice (the less "
              "loaded of two random pages: BOLT's rule; see docs/omap.md for what it leaks)",
              choices=PLACEMENTS),
        Param("ways", int, 16, "position-map ways per bucket", choices=(2, 4, 8, 16)),
        Param("queue_ways", int, 4, "eviction-queue entries per page label (total queue "
              "capacity: pages x queue_ways)", choices=(1, 2, 4, 8, 16)),
        Param("seed", int, 1, "DRBG seed material the bench sends on the 256-bit seed port "
              "(zero-extended; a deployment sends 256 bits of entropy)", min=0, max=(1 << 64) - 1),
        Param("hbm_latency", int, 2, "cycles from an HBM read request to its data (model and "
              "bench)", min=1, max=1000),
        Param("host_latency", int, 8, "cycles from a host read request to its data (model and "
              "bench)", min=1, max=100_000),
        Param("leak", str, "none", "testing only: no_dummy_read skips the page read when the "
              "key has no page label, to show that the obliviousness tests catch a leak",
              choices=LEAKS),
    ),
    rules=(_rules,),
)


def _pow2_at_least(value: int) -> int:
    return 1 << max(1, (int(value) - 1).bit_length())


@dataclass(frozen=True)
class Geometry:
    """Sizes that follow from the parameters.

    * buckets: a power of two >= 4 N / ways (a bucket holds ways / 4 keys on average when full);
    * pages: a power of two >= 2 N / slots (host slots for twice the keys);
    * an HBM word holds one bucket (ways entries) or one pending row (a count and queue_ways keys);
      buckets sit at HBM addresses 0 .. buckets-1, pending rows at buckets + page.
    """

    capacity: int
    key_width: int
    value_width: int
    slots: int
    ways: int
    queue_ways: int
    alpha: float

    @classmethod
    def of(cls, p) -> "Geometry":
        get = p.get if isinstance(p, dict) else p.__getitem__
        return cls(get("capacity"), get("key_width"), get("value_width"), get("slots"),
                   get("ways"), get("queue_ways"), float(get("alpha")))

    @property
    def buckets(self) -> int:
        return _pow2_at_least(-(-4 * self.capacity // self.ways))

    @property
    def bucket_bits(self) -> int:
        return self.buckets.bit_length() - 1

    @property
    def pages(self) -> int:
        return _pow2_at_least(-(-2 * self.capacity // self.slots))

    @property
    def page_bits(self) -> int:
        return self.pages.bit_length() - 1

    @property
    def entry_bits(self) -> int:
        """valid (1), state (2), key, page label, value; LSB first."""
        return 3 + self.key_width + self.page_bits + self.value_width

    @property
    def count_bits(self) -> int:
        return value_bits(self.slots + self.queue_ways)

    @property
    def pending_bits(self) -> int:
        return self.count_bits + self.queue_ways * (1 + self.key_width)

    @property
    def hbm_width(self) -> int:
        return max(self.ways * self.entry_bits, self.pending_bits)

    @property
    def hbm_words(self) -> int:
        return self.buckets + self.pages

    @property
    def hbm_address_width(self) -> int:
        return value_bits(self.hbm_words - 1)

    @property
    def host_words(self) -> int:
        return self.pages * self.slots

    @property
    def host_address_width(self) -> int:
        return value_bits(self.host_words - 1)

    @property
    def host_width(self) -> int:
        """A host word: the slot's ciphertext (128 bits) below the page write's nonce."""
        return SLOT_BLOCK_BITS + NONCE_BITS

    @property
    def alpha_threshold(self) -> int:
        return round(self.alpha * (1 << COIN_BITS))

# DRBG output blocks per generate request (SP 800-90A: then an Update re-keys); the controller
# and the cycle model both follow it.
DRBG_BLOCKS_PER_REQUEST = 4
