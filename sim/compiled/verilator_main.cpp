// hwgen's main loop for cocotb on Verilator (sim/compiled/verilator_main.cpp).
//
// cocotb's own loop serves any testbench: it clocks the model through cocotb's timed VPI
// callbacks and runs every callback list twice per clock period. hwgen's benches are of two
// kinds, and this loop serves both:
//
// * the python bench (sim/bench.py) wakes up at every rising edge of `clk`. The loop drives
//   `clk` itself (a 10 ns period, timescale 1ns/1ps) and runs the VPI callbacks in every time
//   slot as cocotb's loop does, so cocotb sees each edge before the model evaluates it and its
//   writes land after it.
// * the compiled bench (sim/compiled/cocotb_bench.py) raises `run`, releases `rst` and then
//   only waits for `done` (or its deadline timer). While `run` is high and `rst`, `external`
//   and `done` are low, nothing in cocotb can react to anything but `done` or a timer, so the
//   loop clocks the model natively, with no callback work per cycle, until `done` rises or
//   the next timer is due, and then resumes the slot-by-slot loop, in which cocotb sees `done`.
//
// Waveforms (built with --trace-fst, run with --trace [--trace-file F]) are dumped at every
// evaluation in both phases.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "Vtop.h"
#include "verilated.h"
#include "verilated_vpi.h"

#if VM_TRACE
#if VM_TRACE_FST
#include "verilated_fst_c.h"
using Tracer = VerilatedFstC;
#else
#include "verilated_vcd_c.h"
using Tracer = VerilatedVcdC;
#endif
#endif

extern "C" void vlog_startup_routines_bootstrap(void);  // cocotb's VPI entry point

static uint64_t sim_time = 0;  // in the time precision, 1 ps
double sc_time_stamp() { return static_cast<double>(sim_time); }

namespace {

constexpr uint64_t kHalfPeriod = 5000;  // 10 ns clock

void settle_value_callbacks() {
  while (VerilatedVpi::callValueCbs()) {
  }
}

// Evaluate the current time slot until neither the model nor cocotb changes anything more.
void evaluate_slot(Vtop* top) {
  do {
    do {
      top->eval_step();
      VerilatedVpi::clearEvalNeeded();
      VerilatedVpi::doInertialPuts();
      settle_value_callbacks();
    } while (VerilatedVpi::evalNeeded());
    VerilatedVpi::callCbs(cbReadWriteSynch);
    VerilatedVpi::doInertialPuts();
    settle_value_callbacks();
  } while (VerilatedVpi::evalNeeded());
  top->eval_end_step();
  VerilatedVpi::callCbs(cbReadOnlySynch);
}

}  // namespace

int main(int argc, char** argv) {
  bool trace_on = false;
  const char* trace_file = "dump.fst";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--trace") == 0) trace_on = true;
    if (std::strcmp(argv[i], "--trace-file") == 0 && i + 1 < argc) trace_file = argv[++i];
  }
  Verilated::commandArgs(argc, argv);
  std::unique_ptr<Vtop> top(new Vtop(""));
  Verilated::fatalOnVpiError(false);

#if VM_TRACE
  std::unique_ptr<Tracer> tracer;
  Verilated::traceEverOn(true);
  if (trace_on) {
    tracer.reset(new Tracer);
    top->trace(tracer.get(), 99);
    tracer->open(trace_file);
  }
  auto dump = [&]() {
    if (tracer) tracer->dump(sim_time);
  };
#else
  (void)trace_on;
  (void)trace_file;
  auto dump = []() {};
#endif

  vlog_startup_routines_bootstrap();
  VerilatedVpi::callCbs(cbStartOfSimulation);
  settle_value_callbacks();

  top->clk = 0;
  uint64_t next_toggle = kHalfPeriod;
  while (!Verilated::gotFinish()) {
    evaluate_slot(top.get());
    dump();
    if (top->run && !top->rst && !top->external && !top->done) {
      const uint64_t deadline = VerilatedVpi::cbNextDeadline();
      while (!top->done && next_toggle + kHalfPeriod < deadline && !Verilated::gotFinish()) {
        for (int half = 0; half < 2; ++half) {
          sim_time = next_toggle;
          next_toggle += kHalfPeriod;
          top->clk = !top->clk;
          top->eval();
          dump();
        }
      }
    }
    sim_time = std::min(next_toggle, VerilatedVpi::cbNextDeadline());
    VerilatedVpi::callCbs(cbNextSimTime);
    settle_value_callbacks();
    if (sim_time == next_toggle) {
      top->clk = !top->clk;
      next_toggle += kHalfPeriod;
    }
    VerilatedVpi::callTimedCbs();
    settle_value_callbacks();
  }

  top->final();
  VerilatedVpi::callCbs(cbEndOfSimulation);
#if VM_TRACE
  if (tracer) tracer->close();
#endif
  return Verilated::threadContextp()->errorCount() ? 1 : 0;
}
