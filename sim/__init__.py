"""hwgen's verification harness: stream drivers and monitors, the scoreboard, payload packing,
and the runners that simulate a design on Verilator (cocotb) or Amaranth's simulator."""
