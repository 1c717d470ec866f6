"""Natural dtypes of the fields (``Block.field_dtypes``, ``hwgen.core.dtypes``): every block's
outputs come back in the NumPy dtype of its format (float16, ml_dtypes.bfloat16, float32,
int8..int64 sign-extended) with the patterns beside them as ``<field>_bits``, bit-exactly
(NaN payloads included), and its inputs are taken in the same dtypes. All in Python, on the
golden models, but for one run of ``hwgen sim`` through the command line."""

from __future__ import annotations


import ml_dtypes
import numpy as np
import pytest

from hwgen import blocks
from hwgen.core import dtypes
from sim import payload
from sim.runner import load_npz, port_shapes, prepare, save_npz
from sim.scoreboard import compare

from tests.support.cli import hwgen

# (block, parameters, what each output field comes back as in outputs.npz)
POINTS = [
    ("attention_engine", {}, {"o": "float16"}),
    ("attention_engine", {"dtype": "bf16", "head_dim": 16, "lanes": 4}, {"o": "bfloat16"}),
    ("fp_accumulate", {"fmt": "fp32", "latency": 2}, {"y": "float32"}),
    ("fp_add", {}, {"y": "bfloat16"}),
    ("fp_add", {"fmt": "fp16", "op": "sub"}, {"y": "float16"}),
    ("fp_compare", {}, {"y": "uint64"}),  # a flag word: as it is
    ("fp_convert", {}, {"y": "bfloat16"}),
    ("fp_convert", {"fmt_in": "int8", "fmt_out": "fp16"}, {"y": "float16"}),
    ("fp_convert", {"fmt_in": "fp32", "fmt_out": "int16"}, {"y": "int16"}),
    ("fp_convert", {"fmt_in": "bf16", "fmt_out": "uint12"}, {"y": "uint16"}),
    ("fp_convert", {"fmt_in": "int32", "fmt_out": "fp32"}, {"y": "float32"}),
    ("fp_exp", {}, {"y": "bfloat16"}),
    ("fp_exp", {"fmt": "fp16"}, {"y": "float16"}),
    ("fp_fma", {"fmt": "fp32"}, {"y": "float32"}),
    ("fp_gelu", {}, {"y": "bfloat16"}),
    ("fp_minmax", {"fmt": "fp16"}, {"y": "float16"}),
    ("fp_mul", {}, {"y": "bfloat16"}),
    ("fp_mul", {"fmt": "fp8_e4m3"}, {"y": "uint64"}),  # no NumPy dtype: patterns
    ("fp_mul", {"fmt": "6,9"}, {"y": "uint64"}),
    ("fp_recip", {}, {"y": "bfloat16"}),
    ("fp_rsqrt", {"fmt": "fp16"}, {"y": "float16"}),
    ("mac_array", {}, {"y": "int32"}),
    ("mac_array", {"signed": False, "width": 4, "lanes": 2}, {"y": "uint16"}),
    ("omap_controller", {"capacity": 64}, {"found": "uint64", "value_out": "uint64", "error": "uint64"}),
    ("pim_acc_to_bf16", {}, {"y": "bfloat16"}),
    ("pim_acc_to_bf16", {"acc": "bf16"}, {"y": "bfloat16"}),
    ("pim_bank_mac", {"lanes": 4}, {"y": "float32"}),
    ("pim_bank_mac", {"lanes": 4, "dtype": "bf16", "acc": "bf16"}, {"y": "bfloat16"}),
    ("pim_bank_mac", {"lanes": 4, "dtype": "int8"}, {"y": "int32"}),
    ("pim_channel", {"banks": 4, "lanes": 4}, {"y": "float32"}),
    ("pim_channel", {"banks": 4, "lanes": 4, "dtype": "int16"}, {"y": "int64"}),
    ("pim_channel", {"banks": 4, "lanes": 4, "dtype": "int8", "acc_width": 24}, {"y": "int32"}),
    ("pim_host_splice", {}, {"out_data": "bfloat16"}),
    ("pim_host_splice", {"dtype": "int8"}, {"out_data": "int8"}),
    ("pim_vector_unit", {}, {"y": "bfloat16"}),
    ("requant", {}, {"y": "int8"}),
    ("requant", {"signed": False, "in_width": 20, "out_width": 12}, {"y": "uint16"}),
    ("requant", {"in_width": 100, "out_width": 64}, {"y": "int64"}),
    ("spgemm_hash", {}, {"C_data": "int32"}),
    ("spgemm_hash", {"value_type": "fp32"}, {"C_data": "float32"}),
    ("stream_fork", {}, {"y0": "uint64", "y1": "uint64"}),
    ("stream_split", {}, {"y0": "uint64", "y1": "uint64"}),
]


def point_id(point):
    name, params, _ = point
    return name + "".join(f"-{key}={value}" for key, value in params.items())


def test_every_block_has_a_point():
    assert {name for name, _, _ in POINTS} == set(blocks.names())


def sign_extended(values, fmt) -> list[int]:
    """The integers ``values`` (patterns or values) stand for in ``fmt``, by Python ints."""
    mask = (1 << fmt.width) - 1
    out = []
    for value in np.ravel(values):
        value = int(value) & mask
        out.append(value - (1 << fmt.width) if fmt.signed and value >> (fmt.width - 1) else value)
    return out


def hardware_outputs(design, inputs, expected):
    """The outputs as the runner's scoring sees them: the expected beats packed into words,
    unpacked and mapped back to fields (plus the fields a block writes to memory, as golden)."""
    from amaranth.lib.wiring import Out

    memories = design.memories(inputs)
    served = {port for memory in memories.values() for port in (memory.request, memory.response)}
    beats = design.fields_to_beats(expected)
    words = {port: payload.unpack(shape, payload.pack(shape, beats[port]))
             for port, shape in port_shapes(design, Out).items() if port not in served}
    outputs = design.beats_to_fields(words)
    if memories:  # read back from a memory image, in the golden model's form (spgemm's C)
        outputs.update({name: value for name, value in expected.items() if name not in outputs})
    return outputs


@pytest.mark.parametrize("point", POINTS, ids=point_id)
def test_outputs_round_trip(point):
    name, params, want = point
    design = blocks.get(name, **params)
    inputs = design.stimulus(np.random.default_rng(5), 6)
    expected = design.golden(inputs)
    outputs = hardware_outputs(design, inputs, expected)
    formats = {field: dtypes.field_format(spec) for field, spec in design.field_dtypes().items()}
    assert set(formats) <= set(inputs) | set(outputs), "a declared field the block does not have"

    natural = dtypes.to_natural(outputs, formats)
    for field, dtype_name in want.items():
        assert natural[field].dtype.name == dtype_name, field
    for field, values in outputs.items():
        fmt = formats.get(field)
        if fmt is None or fmt.dtype is None:
            # not declared, or no NumPy dtype: as it is, and no _bits
            assert natural[field] is values and field + "_bits" not in natural
            continue
        got, got_bits = natural[field], natural[field + "_bits"]
        assert got.dtype == fmt.dtype and got.shape == np.shape(values)
        assert got_bits.dtype == fmt.bits_dtype and got_bits.dtype.kind == "u"
        # natural -> patterns, bit for bit: the same as the patterns behind the outputs
        back = dtypes.bits(got, fmt)
        assert np.array_equal(back, got_bits)
        assert np.array_equal(back.reshape(-1).astype(np.uint64),
                              np.asarray([int(v) & ((1 << fmt.width) - 1) for v in np.ravel(values)],
                                         dtype=np.uint64))
        again = dtypes.natural(got_bits, fmt)
        assert again.dtype == got.dtype and np.array_equal(dtypes.bits(again, fmt), got_bits)
        if fmt.kind == "int":
            assert [int(v) for v in got.ravel()] == sign_extended(values, fmt)
        else:
            # the scoreboard compares a float array by its bits (NaN payloads included)
            assert compare({field: values}, {field: got}).passed
        # and the patterns are what the scoreboard compares
        if np.asarray(values).dtype.kind == "u":
            assert compare({field: values}, {field: got_bits}).passed


@pytest.mark.parametrize("point", POINTS, ids=point_id)
def test_inputs_in_natural_dtypes(point):
    """The inputs given in their natural dtypes drive the same words and give the same
    expected outputs as the patterns."""
    name, params, _ = point
    design = blocks.get(name, **params)
    inputs = design.stimulus(np.random.default_rng(7), 5)
    formats = design.field_dtypes()
    natural = {field: dtypes.natural(values, formats[field]) if field in formats else values
               for field, values in inputs.items()}
    converted = [field for field in natural if natural[field] is not inputs[field]]
    assert all(field in formats for field in converted)
    plain, given = prepare(design, inputs, 5, 1), prepare(design, natural, 5, 1)
    assert given.words == plain.words
    assert compare(plain.expected, given.expected).passed
    assert set(given.expected) == set(plain.expected)


@pytest.mark.parametrize("fmt, patterns", [
    ("float16", [0x7C01, 0xFE00, 0x7E01, 0x8000, 0x0001, 0xFC00, 0x7BFF]),
    ("bfloat16", [0x7F81, 0xFFC1, 0x7FC0, 0x8000, 0x0001, 0xFF80]),
    ("float32", [0x7F800001, 0xFFC00001, 0x80000000, 0x00000001, 0x7F7FFFFF]),
    ("float64", [0x7FF0000000000001, 0xFFF8000000000001, 1 << 63]),
])
def test_nan_payloads_and_signed_zeros_survive(fmt, patterns):
    patterns = np.asarray(patterns, dtype=np.uint64)
    natural = dtypes.natural(patterns, fmt)
    assert natural.dtype == dtypes.field_format(fmt).dtype
    assert dtypes.bits(natural, fmt).astype(np.uint64).tolist() == patterns.tolist()
    assert compare({"y": patterns}, {"y": natural}).passed
    other = patterns.copy()
    other[0] ^= np.uint64(1)  # another NaN payload (or value) is a mismatch
    assert not compare({"y": other}, {"y": natural}).passed


def test_integer_formats():
    fmt = dtypes.field_format("int12")
    values = np.array([0, 1, 0x7FF, 0x800, 0xFFF], dtype=np.uint64)
    assert dtypes.natural(values, fmt).tolist() == [0, 1, 2047, -2048, -1]
    assert dtypes.natural(values, fmt).dtype == np.int16
    assert dtypes.bits(np.array([-1, -2048]), fmt).tolist() == [0xFFF, 0x800]
    assert dtypes.natural(np.array([-5, 7]), "int64").tolist() == [-5, 7]
    assert dtypes.field_format("int65").dtype is None  # wider than NumPy: kept as it is
    with pytest.raises(ValueError, match="outside -2048..4095"):
        dtypes.bits(np.array([4096]), fmt)
    with pytest.raises(ValueError, match="unknown field format"):
        dtypes.field_format("int")


def test_float_inputs_of_another_dtype_are_refused():
    design = blocks.get("fp_add", fmt="bf16")
    a = np.array([1.0, 2.0], dtype=np.float16)
    with pytest.raises(ValueError, match="fp_add field 'a' holds float16 values, but its format "
                                         "is bfloat16: give ml_dtypes.bfloat16 values or 16-bit patterns"):
        prepare(design, {"a": a, "b": a}, 2, 1)
    design = blocks.get("spgemm_hash", value_type="int32")
    fields = design.stimulus(np.random.default_rng(1), 3)
    fields["A_data"] = fields["A_data"].astype(np.float32)  # int32 data given as float32
    with pytest.raises(ValueError, match="A_data"):
        prepare(design, fields, 3, 1)


def test_bfloat16_through_an_npz_file(tmp_path):
    values = np.array([1.5, -0.0, np.inf], dtype=ml_dtypes.bfloat16)
    save_npz(tmp_path / "f.npz", {"y": values})
    with np.load(tmp_path / "f.npz", allow_pickle=False) as raw:
        assert raw["y"].dtype == np.dtype("V2")  # NumPy has no bfloat16: its bytes
        assert raw["y"].view(ml_dtypes.bfloat16).tobytes() == values.tobytes()
    loaded = load_npz(tmp_path / "f.npz")["y"]
    assert loaded.dtype == ml_dtypes.bfloat16 and loaded.tobytes() == values.tobytes()
    # the bytes np.load gives are also taken as input of a bf16 field
    design = blocks.get("fp_mul", fmt="bf16")
    with np.load(tmp_path / "f.npz", allow_pickle=False) as raw:
        via_void = prepare(design, {"a": raw["y"], "b": raw["y"]}, 3, 1)
    assert via_void.words == prepare(design, {"a": values, "b": values}, 3, 1).words


@pytest.mark.verilator
def test_sim_writes_natural_dtypes_with_bits_beside(tmp_path):
    """``hwgen sim spgemm_hash`` with int32 data in: outputs.npz holds C_data as int32 (the
    signed products) and C_data_bits as its uint32 patterns."""
    rng = np.random.default_rng(3)

    def csr(rows, cols, per_row):
        indptr, indices = [0], []
        for _ in range(rows):
            chosen = np.sort(rng.choice(cols, size=per_row, replace=False))
            indices.extend(chosen.tolist())
            indptr.append(len(indices))
        data = rng.integers(-50_000, 50_000, size=len(indices)).astype(np.int32)
        return np.array(indptr), np.array(indices), data

    A, B = csr(5, 8, 2), csr(8, 6, 2)
    fields = {"A_shape": np.array([5, 8]), "B_shape": np.array([8, 6])}
    for side, (indptr, indices, data) in (("A", A), ("B", B)):
        fields.update({f"{side}_indptr": indptr, f"{side}_indices": indices, f"{side}_data": data})
    np.savez(tmp_path / "ab.npz", **fields)
    # the parameters of a point tests/blocks/spgemm builds too, so the Verilator build is shared
    done = hwgen("sim", "spgemm_hash", "-p", "lanes=1", "-p", "banks=1", "-p", "table_size=16",
                 "-p", "hash=modulo", "--stimulus", "ab.npz", "--out", "res", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with np.load(tmp_path / "res" / "outputs.npz", allow_pickle=False) as out:
        C_data, C_bits = out["C_data"], out["C_data_bits"]
        C_indptr, C_indices = out["C_indptr"], out["C_indices"]
    assert C_data.dtype == np.int32 and C_bits.dtype == np.uint32
    assert np.array_equal(C_data.view(np.uint32), C_bits)
    dense = [np.zeros((5, 8), np.int64), np.zeros((8, 6), np.int64)]
    for matrix, (indptr, indices, data) in zip(dense, (A, B)):
        for row in range(len(indptr) - 1):
            matrix[row, indices[indptr[row]:indptr[row + 1]]] = data[indptr[row]:indptr[row + 1]]
    want = (dense[0] @ dense[1] + (1 << 31)) % (1 << 32) - (1 << 31)  # int32, wrapping
    got = np.zeros((5, 6), np.int64)
    for row in range(5):
        got[row, C_indices[C_indptr[row]:C_indptr[row + 1]]] = C_data[C_indptr[row]:C_indptr[row + 1]]
    assert np.array_equal(got, want) and (C_data < 0).any()
