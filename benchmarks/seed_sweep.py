"""Run every statistical test over ten sampler seeds and print its pass rate.

A statistical test is one that takes the ``seed`` fixture (tests/conftest.py marks it
``statistical``); ``BAYESMM_TEST_SEED`` sets that fixture. Each seed runs the marked tests in
one pytest process (with the project's compile cache, so only the first seed compiles) and
writes a JUnit XML report; the table gives, per test, the number of seeds it passed, and the
seeds it failed. Every row must read 10/10: a test that fails on some seed has a margin
that does not come from the Monte Carlo error of what it measures.

Usage: python benchmarks/seed_sweep.py [--seeds 0 1 ... 9] [-k EXPR] [--tests PATH ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_seed(seed: int, extra: list[str], out: Path) -> tuple[dict[str, bool], float]:
    """Run the statistical tests with one seed; outcome per test id and the wall time."""
    report = out / f"seed{seed}.xml"
    env = {**os.environ, "BAYESMM_TEST_SEED": str(seed)}
    env.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / '.pytensor_cache'}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "statistical", "-p",
                    "no:cacheprovider", f"--junitxml={report}", *extra],
                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    outcome = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        failed = any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        if not skipped:
            outcome[name] = not failed
    return outcome, wall


def main() -> None:
    """Run the sweep and print one row per test."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("-k", default=None, help="pytest -k expression")
    parser.add_argument("--tests", nargs="*", default=[], help="test paths (default: all)")
    args = parser.parse_args()
    extra = [*args.tests, *(["-k", args.k] if args.k else [])]
    passed: dict[str, list[int]] = defaultdict(list)
    failed: dict[str, list[int]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bayesmm-sweep-") as tmp:
        for seed in args.seeds:
            outcome, wall = run_seed(seed, extra, Path(tmp))
            for name, ok in outcome.items():
                (passed if ok else failed)[name].append(seed)
            bad = sum(not ok for ok in outcome.values())
            print(f"seed {seed}: {len(outcome)} tests, {bad} failed, {wall:.0f} s", flush=True)
    names = sorted(set(passed) | set(failed))
    width = max((len(n) for n in names), default=10)
    print(f"\n{'test':<{width}}  passed  failed seeds")
    for name in names:
        total = len(passed[name]) + len(failed[name])
        print(f"{name:<{width}}  {len(passed[name]):>2}/{total:<3}  {failed[name] or ''}")
    if any(failed.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
