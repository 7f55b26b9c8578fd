"""Fuzz the security property (issue 10) longer than CI does: random prod configs, planned offline and scanned.

    .venv/bin/python bench/fuzz_security.py [--examples 200] [--seed 1]

Prints how many configs planned with exit 0, 1 and 2, the seconds per config, and every property failure.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from security_fuzz import judge, prod_configs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    options = parser.parse_args()
    exits: Counter[int] = Counter()
    failures: list[str] = []
    started = time.perf_counter()

    @settings(max_examples=options.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(prod_configs())
    def run(generated) -> None:
        config, changes = generated
        outcome, problems = judge(config, changes)
        exits[outcome.exit_code] += 1
        if problems:
            target = config["modelport:targets"][0]
            failures.append(f"{target['cloud']}/{target['pattern']} {[c.label for c in changes]}: {problems}")

    if options.seed is not None:
        run = seed(options.seed)(run)
    run()
    elapsed = time.perf_counter() - started
    total = sum(exits.values())
    print(f"configs: {total}  exit 0: {exits[0]}  exit 1: {exits[1]}  exit 2: {exits[2]}")
    print(f"seconds per config: {elapsed / max(total, 1):.2f}  (total {elapsed:.1f} s)")
    print(f"property failures: {len(failures)}")
    for failure in failures:
        print("  " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
