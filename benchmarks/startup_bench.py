"""Benchmark: start-up of the ``censorwatch`` command, beside the floor of any Python CLI.

Target (issue 15): ``censorwatch --help`` within 0.20 s and ``censorwatch status`` within
0.35 s, each below 60 MiB. The floor is measured in the same run: ``python -c pass`` (the
interpreter alone) and ``pip --version`` (a Python CLI of a few modules).

Each command runs as a child process of its own; its wall time is taken around the
``fork``/``wait``, its CPU time (user + system) and peak resident set size come from
``os.wait4`` (that child alone: ``getrusage(RUSAGE_CHILDREN)`` would give the maximum over
all children so far) and from GNU time's ``%M``, which sees the command forked from a small
process (see :data:`TIME`). Commands are run in rounds, every command once per
round, so that a change of the machine's load touches them all alike; the table gives the
median of the rounds. CPU time suffers less than wall time from other jobs on the machine,
so both are printed, with the load average before and after.

``status`` is measured twice: on a data directory that ``censorwatch init`` prepared once
(the store exists and is up to date: every ``status`` after the first), and on a new, empty
data directory each time (that run creates the store).

    python benchmarks/startup_bench.py [--rounds 5] [--baseline OTHER_VENV/bin/censorwatch]

``--baseline`` times a second install (an older commit, say) in the same rounds, so that a
before/after comparison sees the same load.

Run it on demand (it is not part of the test suite); record results in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: GNU time, which forks the command from its own small process: a child forked from this
#: benchmark (a Python process of 15 MiB) would report this process's peak RSS if it were
#: higher than its own, since Linux keeps the high-water mark across ``exec``.
TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None


@dataclass
class Case:
    """One command line to time; ``prepare`` returns the environment of one run."""

    label: str
    argv: list[str]
    prepare: Callable[[], dict[str, str]]
    note: str = ""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)


def _script(name: str) -> list[str]:
    """The console script ``name`` of this interpreter's environment (as a user runs it)."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.is_file():
        return [str(candidate)]
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name}: not found next to {sys.executable} nor on PATH")
    return [found]


def run_once(case: Case, cwd: Path, rss_file: Path) -> None:
    """Run the case's command once, output discarded; record wall, CPU and peak RSS."""
    env = case.prepare()
    argv = case.argv
    if TIME is not None:
        argv = [TIME, "-f", "%M", "-o", str(rss_file), *argv]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(case.argv)}: exit status {proc.returncode}\n{err}")
    case.wall.append(wall)
    # Ours plus GNU time's (about 1 ms: the `true` row): wait4 counts the children it reaped.
    case.cpu.append(usage.ru_utime + usage.ru_stime)
    if TIME is not None:
        case.rss_kib.append(int(rss_file.read_text(encoding="ascii").split()[-1]))
    else:
        case.rss_kib.append(usage.ru_maxrss)  # KiB on Linux; an upper bound, see above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each command (median)")
    parser.add_argument(
        "--baseline",
        metavar="SCRIPT",
        help="another install's censorwatch script, timed in the same rounds (before/after)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cw-startup-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
    ready = work / "ready"
    fresh_dirs = iter(range(10**6))

    def with_data_dir(path: Path) -> dict[str, str]:
        return {**base_env, "CENSORWATCH_DATA_DIR": str(path)}

    def fresh() -> dict[str, str]:
        return with_data_dir(work / f"fresh-{next(fresh_dirs)}")

    def censorwatch_cases(cw: list[str], note: str) -> list[Case]:
        ready_env = lambda: with_data_dir(ready)  # noqa: E731
        sep = ", " if note else ""
        return [
            Case("censorwatch --help", [*cw, "--help"], ready_env, note),
            Case("censorwatch --version", [*cw, "--version"], ready_env, note),
            Case("censorwatch status", [*cw, "status"], ready_env, f"{note}{sep}store up to date"),
            Case("censorwatch status", [*cw, "status"], fresh, f"{note}{sep}creates the store"),
            Case("censorwatch testlist --help", [*cw, "testlist", "--help"], ready_env, note),
            Case("censorwatch analyze --help", [*cw, "analyze", "--help"], ready_env, note),
            Case("censorwatch ingest --help", [*cw, "ingest", "--help"], ready_env, note),
        ]

    cw = _script("censorwatch")
    cases = [
        Case("true", ["true"], lambda: base_env, "the harness alone"),
        Case("python -c pass", [sys.executable, "-c", "pass"], lambda: base_env),
        Case("pip --version", [*_script("pip"), "--version"], lambda: base_env),
        *censorwatch_cases(cw, ""),
    ]
    if args.baseline:
        cases += censorwatch_cases([args.baseline], "baseline")
    try:
        subprocess.run(
            [*cw, "init"], env=with_data_dir(ready), cwd=work, check=True, stdout=subprocess.DEVNULL
        )
        for case in cases:  # warm the page cache and the bytecode caches, not counted
            run_once(case, work, work / "rss.txt")
            case.wall.clear(), case.cpu.clear(), case.rss_kib.clear()
        load_before = os.getloadavg()
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for _ in range(args.rounds):
            for case in cases:
                run_once(case, work, work / "rss.txt")
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{started}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"median of {args.rounds} rounds"
    )
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*load_before))
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*load_after))
    print()
    print("| command | wall | CPU (user+sys) | peak RSS |")
    print("| --- | --- | --- | --- |")
    for case in cases:
        wall = statistics.median(case.wall)
        cpu = statistics.median(case.cpu)
        rss = statistics.median(case.rss_kib) / 1024
        note = f" ({case.note})" if case.note else ""
        print(f"| `{case.label}`{note} | {wall:.3f} s | {cpu:.3f} s | {rss:.1f} MiB |")


if __name__ == "__main__":
    main()
