"""Building and running ``hwgen_bench`` with cocotb on Verilator or Icarus Verilog.

Builds are cached in ``$HWGEN_CACHE_DIR`` (default ``~/.cache/hwgen``), one folder per
(sources, simulator, waves setting, tool versions), locked so that parallel test workers share
one build.

Verilator builds go through cocotb's runner with three changes (``HwgenVerilator``):

* hwgen's main loop (``sim/compiled/verilator_main.cpp``) instead of cocotb's: it drives the
  clock and lets a compiled-bench run go without callback work per cycle;
* only ``hwgen_bench``'s own ports are visible to cocotb (a control file), not every signal of
  the design (``--public-flat-rw``), which would keep Verilator from optimizing the design;
* Verilator's run-time library (``verilated.o`` and friends: about 25 CPU-seconds of C++, the
  same for every design) is compiled once per Verilator, compiler and waves setting, kept in
  the cache and copied into later builds before ``make`` runs.

The model's C++ is compiled at ``-O1`` (``VERILATOR_OPT``; ``$HWGEN_VERILATOR_OPT`` overrides):
faster to build than Verilator's ``-Os`` default and no slower to run, measured below.

Icarus builds use cocotb's runner as it is (``iverilog -g2012``); the benches start cocotb's
clock there.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from hwgen import toolchain
from hwgen.core.cache import cache_root

SIMULATORS = ("verilator", "icarus")
MAIN_CPP = Path(__file__).parent / "compiled" / "verilator_main.cpp"
TIMESCALE = ("1ns", "1ps")
ICARUS_INSTALL = ("Icarus Verilog (iverilog) is not on PATH: install it, e.g. 'apt-get install "
                  "iverilog' on Debian or Ubuntu, 'brew install icarus-verilog' on macOS")


class SimError(RuntimeError):
    """The simulation could not be built or run (not a mismatch: that is a failed Verdict)."""


def check_simulator(simulator: str) -> None:
    """A clear error for an unknown simulator or a missing Icarus, before anything runs."""
    if simulator not in SIMULATORS:
        raise ValueError(f"--simulator {simulator!r} is not known: choose {' or '.join(SIMULATORS)}")
    if simulator == "icarus" and shutil.which("iverilog") is None:
        raise toolchain.ToolError(ICARUS_INSTALL)


@contextlib.contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@functools.cache
def compiler_version() -> str:
    try:
        out = subprocess.run(["c++", "--version"], capture_output=True, text=True, check=True)
        return out.stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@functools.cache
def icarus_version() -> str:
    out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def tool_versions(simulator: str) -> dict:
    import cocotb

    versions = {"cocotb": cocotb.__version__}
    if simulator == "verilator":
        versions |= {"verilator": toolchain.verilator_version(), "c++": compiler_version(),
                     "main": hashlib.sha256(MAIN_CPP.read_bytes()).hexdigest()[:16]}
    else:
        versions["iverilog"] = icarus_version()
    return versions


def control_file(top: str, ports: list[str]) -> str:
    """A Verilator control file that makes ``top``'s ports, and nothing else, visible to VPI."""
    return "`verilator_config\n" + "".join(f'public_flat_rw -module "{top}" -var "{port}"\n' for port in ports)


def build(sources: list[Path], top: str, ports: list[str], simulator: str, waves: bool) -> Path:
    """Build ``top`` from ``sources`` (or reuse the cached build); return the build folder."""
    check_simulator(simulator)
    if simulator == "verilator":
        toolchain.use_verilator()
    key_text = json.dumps({
        "sources": [hashlib.sha256(Path(s).read_bytes()).hexdigest() for s in sources],
        "top": top, "ports": ports, "waves": waves, "simulator": simulator,
        "waivers": toolchain.waiver_args(), "opt": verilator_opt() if simulator == "verilator" else "",
        **tool_versions(simulator),
    }, sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    directory = cache_root() / simulator / f"{top}-{key}"
    done = directory / "hwgen-build-done"
    if done.exists():
        return directory
    with locked(directory.parent / f"{directory.name}.lock"):
        if done.exists():  # another process built it while we waited
            return directory
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        log = directory / "build.log"
        started = time.monotonic()
        try:
            if simulator == "verilator":
                _build_verilator(sources, top, ports, directory, waves, log)
            else:
                _build_icarus(sources, top, directory, waves, log)
        except (SystemExit, Exception) as error:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise SimError(f"{simulator} build of {top} failed ({error}); log {log}:\n{tail}") from None
        # how long the build took and of what: read by a profile of a cold suite
        (directory / "hwgen-build-seconds").write_text(
            f"{time.monotonic() - started:.1f}\t{' '.join(Path(s).name for s in sources)}\n")
        done.write_text(key_text)
    return directory


def _build_icarus(sources, top, directory, waves, log):
    from cocotb_tools.runner import get_runner

    get_runner("icarus").build(sources=[Path(s).resolve() for s in sources], hdl_toplevel=top,
                               build_dir=directory, waves=waves, timescale=TIMESCALE, log_file=log)


# The C++ optimization of a Verilator model (Verilator's own default is -Os). Measured on
# hwgen's designs (generate + build + a short run, one at a time on 2 cores), -O1 builds
# faster than -Os: omap_controller 12.7 s against 19.9 s, attention_engine 22.6 against 28.8,
# pim_vector_unit 24.5 against 25.9, the 1024-entry spgemm_hash 105 s (its -Os build took
# 338 s in a suite run); and it runs as fast or faster (omap 526k against 487k cycles/s,
# pim_vector_unit 345k against 246k, attention 414k against 301k). -O0 builds no faster on
# large designs and runs 3-5x slower.
VERILATOR_OPT = "-O1"
VERILATOR_OPT_ENV = "HWGEN_VERILATOR_OPT"


def verilator_opt() -> str:
    """The model's C++ optimization flag: ``$HWGEN_VERILATOR_OPT`` (say ``-O3`` for a long
    run, ``-O0`` for many short ones), else ``VERILATOR_OPT``. Part of the build key."""
    return os.environ.get(VERILATOR_OPT_ENV) or VERILATOR_OPT


def _verilator_runner():
    from cocotb_tools.runner import Verilator

    class HwgenVerilator(Verilator):
        """cocotb's Verilator runner with hwgen's main loop, only the top's ports public,
        and ``make`` left to the caller (``make_command``)."""

        make_command: list[str] = []

        def _build_command(self):
            verilate, make = super()._build_command()
            verilate = [arg for arg in verilate if arg != "--public-flat-rw"]
            verilate = [str(MAIN_CPP) if arg.endswith("verilator.cpp") else arg for arg in verilate]
            self.make_command = [str(arg) for arg in make] + [f"OPT_FAST={verilator_opt()}"]
            return [verilate]

    return HwgenVerilator()


def _build_verilator(sources, top, ports, directory, waves, log):
    vlt = directory / f"{top}.vlt"
    vlt.write_text(control_file(top, ports))
    args = [*toolchain.waiver_args(), *(toolchain.fst_build_args(directory / "lib") if waves else [])]
    runner = _verilator_runner()
    # the control file comes first: cocotb takes the last source for the language
    runner.build(sources=[vlt, *(Path(s).resolve() for s in sources)], hdl_toplevel=top,
                 build_dir=directory, build_args=args, waves=waves, timescale=TIMESCALE, log_file=log)
    runtime = cache_root() / "verilator-runtime" / hashlib.sha256(json.dumps(
        [toolchain.verilator_version(), compiler_version(), waves]).encode()).hexdigest()[:16]
    # copied after Verilator wrote the makefile, the objects are newer than it: make keeps them
    if (runtime / "complete").exists():
        for obj in runtime.iterdir():
            if obj.name != "complete":
                shutil.copyfile(obj, directory / obj.name)
    with open(log, "a") as handle:
        done = subprocess.run(runner.make_command, env=runner.env, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SimError(f"make exited {done.returncode}")
    if not (runtime / "complete").exists():
        _keep_runtime(directory, runtime)


def _keep_runtime(directory: Path, runtime: Path) -> None:
    """Keep the run-time library objects of a finished build for later builds."""
    runtime.parent.mkdir(parents=True, exist_ok=True)
    with locked(runtime.parent / f"{runtime.name}.lock"):
        if (runtime / "complete").exists():
            return
        staging = Path(tempfile.mkdtemp(dir=runtime.parent))
        for obj in [*directory.glob("verilated*.o"), *directory.glob("verilated*.d")]:
            shutil.copyfile(obj, staging / obj.name)
        (staging / "complete").write_text("")
        shutil.rmtree(runtime, ignore_errors=True)
        staging.rename(runtime)


def run(simulator: str, build_dir: Path, top: str, test_module: str, directory: Path,
        env: dict[str, str], waves: Path | None) -> None:
    """Run cocotb test module ``test_module`` on a build, in ``directory``."""
    from cocotb_tools.runner import get_runner

    log = directory / "sim.log"
    # The benches have no assert statements to rewrite, and cocotb's pytest set-up for
    # rewriting them (a pytest configuration, its plugins) took 0.2 s of each run's 0.43 s
    # start on a small design: hundreds of runs in the test suite.
    env = {"COCOTB_REWRITE_ASSERTION_FILES": "", **env}
    try:
        if simulator == "verilator":
            get_runner("verilator").test(
                test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=directory,
                test_args=["--trace", "--trace-file", str(waves)] if waves else [],
                extra_env=env, results_xml=str(directory / "cocotb-results.xml"), log_file=log)
        else:
            get_runner("icarus").test(
                test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=directory, waves=waves is not None,
                plusargs=[f"+dumpfile_path={waves}"] if waves else [],
                extra_env=env, results_xml=str(directory / "cocotb-results.xml"), log_file=log)
    except SystemExit as error:
        raise SimError(f"simulation of {top} on {simulator} failed (exit {error.code}); log {log}") from None
