"""``simple_dual_port``: Yosys maps it to a bare block RAM, where a plain memory gets glue."""

from __future__ import annotations

import json

from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwgen.core.memories import simple_dual_port
from hwgen.synth import run_tool

WIDTH, DEPTH = 36, 512


class Buffer(wiring.Component):
    """A ``DEPTH`` x ``WIDTH`` memory, its read registered once behind the RAM (as every block
    reads a block RAM); ``plain`` builds it as an ordinary Amaranth memory instead."""

    def __init__(self, plain: bool = False):
        self.plain = plain
        super().__init__({"write_addr": In(9), "write_data": In(WIDTH), "write_en": In(1),
                          "read_addr": In(9), "read_data": Out(WIDTH)})

    def elaborate(self, platform):
        m = Module()
        if self.plain:
            m.submodules.words = words = Memory(shape=WIDTH, depth=DEPTH, init=[])
            write, read = words.write_port(), words.read_port(transparent_for=())
        else:
            write, read = simple_dual_port(m, "words", shape=WIDTH, depth=DEPTH)
        m.d.comb += [write.addr.eq(self.write_addr), write.data.eq(self.write_data),
                     write.en.eq(self.write_en), read.addr.eq(self.read_addr)]
        m.d.sync += self.read_data.eq(read.data)
        return m


def _ecp5_netlist(tmp_path, dut) -> dict:
    (tmp_path / "design.v").write_text(verilog.convert(dut, name="top"))
    done = run_tool("yosys", ["-q", "-p", "read_verilog design.v; synth_ecp5 -top top -json netlist.json"],
                    tmp_path, progress=lambda _: None, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "netlist.json").read_text())["modules"]["top"]


def _read_pin_loads(netlist: dict) -> set[str]:
    """The cell types the block RAMs' read data pins drive."""
    loads, ram_outputs = {}, set()
    for cell in netlist["cells"].values():
        for port, bits in cell["connections"].items():
            if cell["port_directions"][port] == "input":
                for bit in bits:
                    loads.setdefault(bit, []).append(cell["type"])
            elif cell["type"] == "DP16KD" and port.startswith("DO"):
                ram_outputs.update(bits)
    return {kind for bit in ram_outputs for kind in loads.get(bit, [])}


def test_ecp5_maps_a_bare_block_ram(tmp_path):
    (tmp_path / "sdp").mkdir()
    netlist = _ecp5_netlist(tmp_path / "sdp", Buffer())
    kinds = [cell["type"] for cell in netlist["cells"].values()]
    assert kinds.count("DP16KD") == 1
    # every read bit goes straight into its register: no bypass multiplexer, no delayed write
    assert _read_pin_loads(netlist) == {"TRELLIS_FF"}
    assert kinds.count("TRELLIS_FF") == WIDTH
    # the same memory as a plain Amaranth memory: Yosys emulates read-old-data around a
    # delayed write (what simple_dual_port exists to avoid)
    (tmp_path / "plain").mkdir()
    plain = _ecp5_netlist(tmp_path / "plain", Buffer(plain=True))
    plain_kinds = [cell["type"] for cell in plain["cells"].values()]
    assert "LUT4" in _read_pin_loads(plain)
    assert plain_kinds.count("TRELLIS_FF") > 2 * WIDTH
