"""Generates the policy pack's documents from its catalogue: policies/RULES.md and policies/config/<env>.json."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..profiles import PROFILES
from .policy import pack_directory, policy_config_for, rules_markdown

__all__ = ["generated_documents", "main"]


def generated_documents(pack: Path | None = None) -> dict[Path, str]:
    """Every generated file of the pack and the content it must have."""
    root = pack or pack_directory()
    documents = {root / "RULES.md": rules_markdown()}
    for environment in PROFILES:
        config = policy_config_for(environment)
        documents[root / "config" / f"{environment}.json"] = json.dumps(config, indent=2, sort_keys=True) + "\n"
    return documents


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.plan.policy_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, content in generated_documents().items():
        if path.is_file() and path.read_text() == content:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
