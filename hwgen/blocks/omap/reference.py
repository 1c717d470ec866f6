"""The exact algorithm of ``omap_controller`` in Python (docs/omap.md, "Algorithm").

Given the same seed it draws the same random blocks as the RTL (``drbg_blocks``), so it
predicts the controller's host trace request by request (address, read or write, the word
moved and its plaintext), its events, its answers and its final HBM and host images. The
tests hold the RTL to it exactly; ``stats`` runs the same algorithm without encryption and
with another random source, fast enough for 10^6 operations at N = 2^20.

Written from the specification in docs/omap.md, not from the RTL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .params import (
    DELETE, ERR_BUCKET_FULL, ERR_MAP_FULL, ERR_NONE, EV_BUCKET_FULL, EV_INTEGRITY, EV_MAP_FULL,
    EV_QUEUE_FULL, FIELD_BITS, HASH_MULTIPLIER, IN_HBM, IN_HOST, LOAD, NONCE_BITS, PUT,
    QUEUED, SLOT_BLOCK_BITS, Geometry,
)

MASK32 = (1 << 32) - 1
MASK128 = (1 << 128) - 1


def bucket_of(key: int, bucket_bits: int) -> int:
    """The position-map bucket of ``key``: fold to 32 bits, multiply, keep the top bits."""
    folded = (key & MASK32) ^ (key >> 32)
    return ((folded * HASH_MULTIPLIER) & MASK32) >> (32 - bucket_bits)


def seed_bytes(seed: int) -> bytes:
    """The 256-bit seed material as the DRBG's 32 bytes (the port value, big-endian)."""
    return int(seed).to_bytes(32, "big")


def drbg_stream(seed: int) -> Iterator[int]:
    """The controller's random blocks as port values, generated in batches."""

    batch, taken = 256, 0
    while True:
        blocks = drbg_blocks(seed_bytes(seed), taken + batch)[taken:]
        for block in blocks:
            yield int.from_bytes(block, "big")
        taken += batch
        batch = min(batch * 2, 1 << 16)


@dataclass
class Entry:
    key: int
    state: int
    label: int
    value: int


@dataclass
class HostRequest:
    address: int
    is_write: int
    word: int        # what moved on the port: nonce above the ciphertext
    plaintext: int


@dataclass
class Answer:
    found: int
    value: int
    error: int


@dataclass
class Stats:
    """Occupancy figures a run accumulates (``track_stats``)."""

    max_queue_total: int = 0       # queued elements, all labels
    max_queue_row: int = 0         # queued elements under one label
    max_page_load: int = 0         # live elements in one host page, after its flush
    max_label_load: int = 0        # elements under one page label (in the page or queued)
    queue_full_events: int = 0
    hbm_elements_max: int = 0


class Reference:
    """One controller: feed it requests with ``request(op, key, value)``."""

    def __init__(self, params, randoms: Iterator[int] | None = None, encrypt: bool = True,
                 record: bool = True, track_stats: bool = False):
        self.g = g = Geometry.of(params)
        get = params.get if isinstance(params, dict) else params.__getitem__
        self.two_choice = get("placement") == "two_choice"
        self.leaky = get("leak") == "no_dummy_read"
        self.randoms = randoms if randoms is not None else drbg_stream(get("seed"))
        self.encrypt = encrypt
        self.record = record
        self.buckets: list[list[Entry | None]] = [[None] * g.ways for _ in range(g.buckets)]
        self.counts = [0] * g.pages                       # HOST or QUEUED under each label
        self.queue: list[list[int | None]] = [[None] * g.queue_ways for _ in range(g.pages)]
        self.host_plain = [0] * g.host_words
        self.host_words = [0] * g.host_words
        self.size = 0
        self.nonce = 0
        self.sealed = False
        self.trace: list[HostRequest] = []
        self.events: list[int] = []
        # queries (counted from the first after the bulk load) whose page read the leaky
        # variant skipped: their time differs, which is the leak
        self.skipped_reads: list[int] = []
        self._queries = 0
        self.stats = Stats() if track_stats else None
        self._queued_total = 0
        self._in_hbm = 0
        self._cipher = None
        key_block = next(self.randoms)   # the first block keys the slot encryption
        if encrypt:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
            self._cipher = Cipher(algorithms.AES(key_block.to_bytes(16, "big")), modes.ECB())

    # -- the position map -------------------------------------------------------------------
    def _bucket(self, key: int) -> list[Entry | None]:
        return self.buckets[bucket_of(key, self.g.bucket_bits)]

    def _find(self, key: int) -> Entry | None:
        return next((e for e in self._bucket(key) if e is not None and e.key == key), None)

    # -- host pages --------------------------------------------------------------------------
    def _keystream(self, nonce: int) -> list[int]:
        if self._cipher is None:
            return [0] * self.g.slots
        blocks = b"".join(((nonce << 64) | slot).to_bytes(16, "big") for slot in range(self.g.slots))
        encryptor = self._cipher.encryptor()
        out = encryptor.update(blocks) + encryptor.finalize()
        return [int.from_bytes(out[16 * i:16 * i + 16], "big") for i in range(self.g.slots)]

    def _read_page(self, page: int) -> list[tuple[int, int, int]]:
        """(valid, key, value) per slot, decrypting what the host returns."""
        g = self.g
        slots = []
        base = page * g.slots
        for slot in range(g.slots):
            word, plain = self.host_words[base + slot], self.host_plain[base + slot]
            if self._cipher is not None:
                nonce = word >> SLOT_BLOCK_BITS
                plain = (word & MASK128) ^ self._keystream_one(nonce, slot)
            if self.record:
                self.trace.append(HostRequest(base + slot, 0, word, plain))
            slots.append(self._unpack_slot(plain))
        return slots

    def _keystream_one(self, nonce: int, slot: int) -> int:
        encryptor = self._cipher.encryptor()
        out = encryptor.update(((nonce << 64) | slot).to_bytes(16, "big")) + encryptor.finalize()
        return int.from_bytes(out, "big")

    def _write_page(self, page: int, slots: list[tuple[int, int, int]]) -> None:
        g = self.g
        self.nonce += 1
        if self.nonce >> NONCE_BITS:
            raise OverflowError("the page-write nonce wrapped")
        keystream = self._keystream(self.nonce)
        base = page * g.slots
        for slot, (valid, key, value) in enumerate(slots):
            plain = self._pack_slot(valid, key, value)
            word = (self.nonce << SLOT_BLOCK_BITS) | (plain ^ keystream[slot])
            self.host_plain[base + slot] = plain
            self.host_words[base + slot] = word
            if self.record:
                self.trace.append(HostRequest(base + slot, 1, word, plain))

    def _pack_slot(self, valid: int, key: int, value: int) -> int:
        if not valid:
            return 0
        return 1 | key << 1 | value << (1 + self.g.key_width)

    def _unpack_slot(self, plain: int) -> tuple[int, int, int]:
        kw = self.g.key_width
        return plain & 1, (plain >> 1) & ((1 << kw) - 1), (plain >> (1 + kw)) & ((1 << self.g.value_width) - 1)

    # -- random fields -----------------------------------------------------------------------
    def _field(self, block: int, index: int) -> int:
        return (block >> (FIELD_BITS * index)) & (self.g.pages - 1)

    # -- the algorithm -----------------------------------------------------------------------
    def request(self, op: int, key: int, value: int) -> Answer:
        if op == LOAD and not self.sealed:
            return self._load(key, value)
        if op == LOAD:
            op = PUT
        if not self.sealed:
            self._seal()
        block = next(self.randoms)
        entry = self._find(key)
        labelled = entry is not None and entry.state != IN_HBM
        page = entry.label if labelled else self._field(block, 0)
        slots = None
        if labelled or not self.leaky:
            slots = self._read_page(page)
        else:
            self.skipped_reads.append(self._queries)
        self._queries += 1
        old = 0
        if entry is not None:
            if entry.state == IN_HOST:
                match = next((s for s in slots if s[0] and s[1] == key), None)
                if match is None:
                    self._event(EV_INTEGRITY)
                else:
                    old = match[2]
            else:
                old = entry.value
        if labelled:
            self._leave_label(entry, key)

        error = ERR_NONE
        if entry is not None:
            if op == DELETE:
                self._bucket(key)[self._bucket(key).index(entry)] = None
                self.size -= 1
                self._in_hbm -= entry.state == IN_HBM
            else:
                self._place(entry, value if op == PUT else old, block)
        elif op == PUT:
            error = self._insert(key, value, block)
        self._flush(self._field(block, 1), read=True)
        self._note_stats()
        return Answer(int(entry is not None), old, error)

    def _leave_label(self, entry: Entry, key: int) -> None:
        """The element leaves its page label: its page's count drops, and a queued element
        leaves the queue."""
        if entry.state == IN_HOST:
            self.counts[entry.label] -= 1
            return
        row = self.queue[entry.label]
        if key in row:
            row[row.index(key)] = None
            self.counts[entry.label] -= 1
            self._queued_total -= 1
        else:
            self._event(EV_INTEGRITY)

    def _insert(self, key: int, value: int, block: int) -> int:
        if self.size == self.g.capacity:
            self._event(EV_MAP_FULL)
            return ERR_MAP_FULL
        bucket = self._bucket(key)
        if None not in bucket:
            self._event(EV_BUCKET_FULL)
            return ERR_BUCKET_FULL
        entry = Entry(key, IN_HBM, 0, 0)
        bucket[bucket.index(None)] = entry
        self.size += 1
        self._place(entry, value, block, fresh=True)
        return ERR_NONE

    def _place(self, entry: Entry, value: int, block: int, fresh: bool = False) -> None:
        """A fresh location: HBM with probability alpha, else a page label's queue row."""
        g = self.g
        if entry.state == IN_HBM and not fresh:
            self._in_hbm -= 1
        first, second = self._field(block, 2), self._field(block, 3)
        label = first
        if self.two_choice and self.counts[second] < self.counts[first]:
            label = second
        coin = (block >> (4 * FIELD_BITS)) & 0xFFFF
        entry.value = value
        if coin >= g.alpha_threshold:
            row = self.queue[label]
            if None in row:
                row[row.index(None)] = entry.key
                self.counts[label] += 1
                self._queued_total += 1
                if self.stats is not None:
                    self.stats.max_queue_row = max(self.stats.max_queue_row, g.queue_ways - row.count(None))
                    self.stats.max_label_load = max(self.stats.max_label_load, self.counts[label])
                entry.state, entry.label = QUEUED, label
                return
            self._event(EV_QUEUE_FULL)
        entry.state, entry.label = IN_HBM, 0
        self._in_hbm += 1

    def _load(self, key: int, value: int) -> Answer:
        block = next(self.randoms)
        entry = self._find(key)
        if entry is not None:
            old, entry.value = entry.value, value
            return Answer(1, old, ERR_NONE)
        return Answer(0, 0, self._insert(key, value, block))

    def _seal(self) -> None:
        for page in range(self.g.pages):
            self._flush(page, read=False)
        self.sealed = True

    def _flush(self, page: int, read: bool) -> None:
        g = self.g
        slots = self._read_page(page) if read else [(0, 0, 0)] * g.slots
        slots = list(slots)
        for i, (valid, key, _) in enumerate(slots):
            if valid:
                entry = self._find(key)
                if entry is None or entry.state != IN_HOST or entry.label != page:
                    slots[i] = (0, 0, 0)        # stale: the element has moved on
        row = self.queue[page]
        for way, key in enumerate(row):
            if key is None:
                continue
            free = next((i for i, s in enumerate(slots) if not s[0]), None)
            if free is None:
                break
            entry = self._find(key)
            row[way] = None
            self._queued_total -= 1
            if entry is None or entry.state != QUEUED or entry.label != page:
                self._event(EV_INTEGRITY)
                continue
            slots[free] = (1, key, entry.value)
            entry.state, entry.value = IN_HOST, 0
        if self.stats is not None:
            self.stats.max_page_load = max(self.stats.max_page_load, sum(s[0] for s in slots))
        self._write_page(page, slots)

    def _event(self, code: int) -> None:
        self.events.append(code)
        if code == EV_QUEUE_FULL and self.stats is not None:
            self.stats.queue_full_events += 1

    def _note_stats(self) -> None:
        s = self.stats
        if s is None:
            return
        s.max_queue_total = max(s.max_queue_total, self._queued_total)
        s.hbm_elements_max = max(s.hbm_elements_max, self._in_hbm)

    def page_loads(self) -> list[int]:
        """Live elements per host page now (elements whose position map says that page)."""
        loads = [0] * self.g.pages
        for bucket in self.buckets:
            for e in bucket:
                if e is not None and e.state == IN_HOST:
                    loads[e.label] += 1
        return loads

    # -- images ------------------------------------------------------------------------------
    def hbm_image(self) -> dict[int, int]:
        """The HBM words as the RTL lays them out (docs/omap.md, "Layout"); zero words omitted."""
        g = self.g
        image = {}
        for address, bucket in enumerate(self.buckets):
            word = 0
            for way, e in enumerate(bucket):
                if e is not None:
                    entry = (1 | e.state << 1 | e.key << 3 | e.label << (3 + g.key_width)
                             | e.value << (3 + g.key_width + g.page_bits))
                    word |= entry << (way * g.entry_bits)
            if word:
                image[address] = word
        for page in range(g.pages):
            word = self.counts[page]
            for way, key in enumerate(self.queue[page]):
                if key is not None:
                    word |= (1 | key << 1) << (g.count_bits + way * (1 + g.key_width))
            if word:
                image[g.buckets + page] = word
        return image

    def host_image(self) -> dict[int, int]:
        return {a: w for a, w in enumerate(self.host_words) if w}


def run(params, ops, keys, values, **options) -> tuple[Reference, list[Answer]]:
    """Run a request sequence; return the reference (its trace, events, images) and answers."""
    ref = Reference(params, **options)
    answers = [ref.request(int(o), int(k), int(v)) for o, k, v in zip(ops, keys, values)]
    return ref, answers


MASK128 = (1 << 128) - 1


def drbg_blocks(seed: bytes, count: int, blocks_per_request: int = 4) -> list[bytes]:
    """The first ``count`` output blocks after instantiating with ``seed`` (32 bytes), by
    SP 800-90A CTR_DRBG (AES-128, no derivation function)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(seed) != 32:
        raise ValueError(f"seed must be 32 bytes, not {len(seed)}")

    def aes(key: bytes, value: int) -> bytes:
        encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        return encryptor.update(value.to_bytes(16, "big")) + encryptor.finalize()

    def update(material: bytes, key: bytes, v: int) -> tuple[bytes, int]:
        v = (v + 1) & MASK128
        low = aes(key, v)
        v = (v + 1) & MASK128
        high = aes(key, v)
        temp = bytes(a ^ b for a, b in zip(low + high, material))
        return temp[:16], int.from_bytes(temp[16:], "big")

    key, v = update(seed, bytes(16), 0)
    out = []
    while len(out) < count:
        for _ in range(blocks_per_request):
            v = (v + 1) & MASK128
            out.append(aes(key, v))
        key, v = update(bytes(32), key, v)
    return out[:count]
