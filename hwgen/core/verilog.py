"""Amaranth to Verilog, with the three fixes every hwgen Verilog file gets.

``convert`` runs Amaranth's Verilog backend (Yosys ``write_verilog``) without ``src``
attributes, then:

* **A timescale.** Yosys writes none; a simulator then falls back to its own default (Icarus:
  1 s), and files with and without one do not mix. Every file starts ``timescale 1ns/1ps``.
* **A time-zero trigger that SystemVerilog honours.** Yosys starts each ``always @*`` block with
  ``if (<trigger>) begin end`` on a register declared ``= 0``, so that the block runs at time
  zero under Verilog-2005 rules. SystemVerilog (Icarus ``-g2012``, commercial simulators) gives
  a declaration initializer no event, so a block whose inputs never change afterwards never
  runs and its outputs stay X. The trigger becomes a net driven by a continuous assignment,
  whose first update is an event under both rules.
* **Compact zero memories.** Yosys initializes a memory word by word; a memory whose every
  word is zero (``init=[]``: a DRAM bank array, say) becomes one ``for`` loop, so a 64 Ki-word
  memory is three lines instead of 64 Ki. Yosys's own front end still unrolls such a loop at
  about a millisecond a word, so the loop of a memory of more than ``SYNTHESIS_INIT_LIMIT``
  words sits under `` `ifndef SYNTHESIS`` (a macro Yosys ``read_verilog`` defines and
  simulators do not): simulators start it at zero, synthesis sees an uninitialized memory,
  which an FPGA's block RAM powers up as zero anyway. A formal check that needs such a memory
  zero at start must assume it.
"""

from __future__ import annotations

import re

from amaranth.back import verilog

TIMESCALE = "`timescale 1ns/1ps"
# zero memories up to this many words keep their initialization in synthesis too (a FIFO's
# storage, a small table); larger ones (bank arrays, big buffers) lose it there
SYNTHESIS_INIT_LIMIT = 1024

_TRIGGER = re.compile(r"^(?P<indent>[ \t]*)reg (?P<name>\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) +"
                      r"= 0;$", re.MULTILINE)
_INIT_BLOCK = re.compile(r"^(?P<indent>[ \t]*)initial begin\n(?P<body>(?:[ \t]+[^\n]*\[\d+\] = [^\n]*;\n)+)"
                         r"(?P=indent)end\n", re.MULTILINE)
_INIT_WORD = re.compile(r"^[ \t]+(?P<memory>\\\S+ |[A-Za-z_][\w$]*)\[(?P<index>\d+)\] = "
                        r"(?P<width>\d+)'h(?P<value>[0-9a-fA-F]+);$")


def _trigger_as_net(match: re.Match) -> str:
    indent, name = match["indent"], match["name"]
    return f"{indent}wire {name} ;\n{indent}assign {name}  = 1'h0;"


def _compact_zero_init(match: re.Match) -> str:
    lines = match["body"].splitlines()
    words = [_INIT_WORD.match(line) for line in lines]
    if not all(words) or len({w["memory"] for w in words}) != 1 or len({w["width"] for w in words}) != 1:
        return match.group(0)
    if any(int(w["index"]) != i or int(w["value"], 16) for i, w in enumerate(words)):
        return match.group(0)
    memory, width, indent = words[0]["memory"], words[0]["width"], match["indent"]
    label = "zero_" + re.sub(r"\W", "_", memory.strip().lstrip("\\"))
    loop = (f"{indent}initial begin : {label}\n"
            f"{indent}  integer i;\n"
            f"{indent}  for (i = 0; i < {len(words)}; i = i + 1)\n"
            f"{indent}    {memory}[i] = {width}'h0;\n"
            f"{indent}end\n")
    if len(words) > SYNTHESIS_INIT_LIMIT:
        return f"`ifndef SYNTHESIS\n{loop}`endif\n"
    return loop


def fix(text: str) -> str:
    """The three fixes, on Verilog text from Yosys ``write_verilog``."""
    text = _TRIGGER.sub(_trigger_as_net, text)
    text = _INIT_BLOCK.sub(_compact_zero_init, text)
    lines = text.split("\n", 1)
    if lines[0].startswith("/*"):  # keep Yosys's banner first
        return f"{lines[0]}\n{TIMESCALE}\n{lines[1] if len(lines) > 1 else ''}"
    return f"{TIMESCALE}\n{text}"


def convert(design, name: str) -> str:
    """``design`` (a component) as the Verilog module ``name``, fixed."""
    return fix(verilog.convert(design, name=name, emit_src=False))
