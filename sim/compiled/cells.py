"""The compiled bench's simulation I/O cells: the only hand-written Verilog in hwgen.

Everything a bench does per cycle is Amaranth logic (``sim.compiled.agents``); these cells are
where that logic meets the files the host writes and reads. Each is a few lines of
Verilog-2005 that Verilator and Icarus both accept:

* ``hwgen_bench_rom``: a word store filled at time 0 from a binary file (``$fread``: each word
  big-endian in ``ceil(WIDTH / 8)`` bytes, from word 0 on; zeros after the file ends), with a
  synchronous or an asynchronous read port. ``$fread`` reads a byte at a time where
  ``$readmemh`` parses text, about ten times faster on a large stimulus;
* ``hwgen_bench_ram``: a store filled from a ``$readmemh`` file (sparse: ``@address`` lines),
  with a write port, which writes its whole contents back with ``$writememh`` when ``dump``
  rises;
* ``hwgen_bench_log``: appends ``<cycle> <data>`` (hex) to a file in every cycle ``enable`` is
  high, and flushes when ``flush`` rises;
* ``hwgen_bench_xcheck``: on a 4-state simulator (Icarus), appends ``<cycle> <bits>`` whenever
  one of the watched handshake bits is X or Z; compiled away on Verilator, which has no X.

Under ``SYNTHESIS`` (Yosys) the file I/O drops out and the stores remain. File names are
relative: the simulator runs in the run's folder, so the Verilog names no
absolute path and stays byte-identical on any machine. A cell opens its file only when it first
needs it, so a run that drives the ports from Python (``--bench python``) writes no file.
For an FPGA test these cells are what would be replaced (by block RAM and a host link); the
logic around them is ordinary synthesizable Amaranth.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance

CYCLE_WIDTH = 48  # the benches' cycle counter (and every logged cycle)

VERILOG = r"""
// hwgen compiled-bench I/O cells (sim/compiled/cells.py): file I/O in simulation, plain stores in synthesis.
module hwgen_bench_rom #(parameter WIDTH = 1, parameter DEPTH_LOG2 = 1, parameter SYNC = 1,
                         parameter FILE = "") (
  input clk,
  input [DEPTH_LOG2-1:0] addr,
  output [WIDTH-1:0] data
);
  reg [WIDTH-1:0] mem [0:(1 << DEPTH_LOG2) - 1];
  reg [WIDTH-1:0] q = {WIDTH{1'b0}};
`ifndef SYNTHESIS
  integer i;
  integer fd;
  initial begin
    for (i = 0; i < (1 << DEPTH_LOG2); i = i + 1) mem[i] = {WIDTH{1'b0}};
    fd = $fopen(FILE, "rb");
    if (fd != 0) begin
      i = $fread(mem, fd);
      $fclose(fd);
    end
  end
`endif
  always @(posedge clk) q <= mem[addr];
  assign data = (SYNC != 0) ? q : mem[addr];
endmodule

module hwgen_bench_ram #(parameter WIDTH = 1, parameter DEPTH_LOG2 = 1, parameter FILE = "",
                         parameter IMAGE = "") (
  input clk,
  input we,
  input [DEPTH_LOG2-1:0] waddr,
  input [WIDTH-1:0] wdata,
  input [DEPTH_LOG2-1:0] raddr,
  output [WIDTH-1:0] rdata,
  input dump
);
  reg [WIDTH-1:0] mem [0:(1 << DEPTH_LOG2) - 1];
  always @(posedge clk) if (we) mem[waddr] <= wdata;
  assign rdata = mem[raddr];
`ifndef SYNTHESIS
  reg dumped = 1'b0;
  integer i;
  integer fd;
  initial begin
    for (i = 0; i < (1 << DEPTH_LOG2); i = i + 1) mem[i] = {WIDTH{1'b0}};
    fd = $fopen(FILE, "r");
    if (fd != 0) begin
      $fclose(fd);
      $readmemh(FILE, mem);
    end
  end
  always @(posedge clk) begin
    if (dump && !dumped) begin
      $writememh(IMAGE, mem);
      dumped <= 1'b1;
    end
  end
`endif
endmodule

module hwgen_bench_log #(parameter WIDTH = 1, parameter FILE = "") (
  input clk,
  input enable,
  input [47:0] cycle,
  input [WIDTH-1:0] data,
  input flush
);
`ifndef SYNTHESIS
  integer fd = 0;
  reg flushed = 1'b0;
  always @(posedge clk) begin
    if (enable) begin
      if (fd == 0) fd = $fopen(FILE, "w");
      $fwrite(fd, "%h %h\n", cycle, data);
    end
    if (flush && !flushed && fd != 0) begin
      $fflush(fd);
      flushed <= 1'b1;
    end
  end
`endif
endmodule

module hwgen_bench_xcheck #(parameter WIDTH = 1, parameter FILE = "") (
  input clk,
  input enable,
  input [47:0] cycle,
  input [WIDTH-1:0] bits,
  input flush
);
`ifndef VERILATOR
`ifndef SYNTHESIS
  integer fd = 0;
  always @(posedge clk) begin
    if (enable && ((^bits) === 1'bx)) begin
      if (fd == 0) fd = $fopen(FILE, "w");
      $fwrite(fd, "%h %b\n", cycle, bits);
    end
    if (flush && fd != 0) $fflush(fd);
  end
`endif
`endif
endmodule
"""


def rom(*, width: int, depth_log2: int, file: str, addr, data, sync: bool = True) -> Instance:
    return Instance("hwgen_bench_rom", p_WIDTH=width, p_DEPTH_LOG2=depth_log2, p_SYNC=int(sync),
                    p_FILE=file, i_clk=ClockSignal(), i_addr=addr, o_data=data)


def ram(*, width: int, depth_log2: int, file: str, image: str, we, waddr, wdata, raddr, rdata,
        dump) -> Instance:
    return Instance("hwgen_bench_ram", p_WIDTH=width, p_DEPTH_LOG2=depth_log2, p_FILE=file,
                    p_IMAGE=image, i_clk=ClockSignal(), i_we=we, i_waddr=waddr, i_wdata=wdata,
                    i_raddr=raddr, o_rdata=rdata, i_dump=dump)


def log(*, width: int, file: str, enable, cycle, data, flush) -> Instance:
    return Instance("hwgen_bench_log", p_WIDTH=width, p_FILE=file, i_clk=ClockSignal(),
                    i_enable=enable, i_cycle=cycle, i_data=data, i_flush=flush)


def xcheck(*, width: int, file: str, enable, cycle, bits, flush) -> Instance:
    return Instance("hwgen_bench_xcheck", p_WIDTH=width, p_FILE=file, i_clk=ClockSignal(),
                    i_enable=enable, i_cycle=cycle, i_bits=bits, i_flush=flush)
