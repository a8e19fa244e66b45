"""The 办事指南 matcher's figures: top-1, top-3 and "no match" on the held-out phrasings
(tests/data/guides_held_out.tsv, never used for tuning) and on the tuning set, against the
demo catalog. In-process, no database, no load: it runs in a second.

    .venv/bin/python bench/bench_guides.py [--misses]

Targets (issue 15): top-1 ≥ 0.85, top-3 ≥ 0.95, no match on out-of-scope chatter ≥ 0.9, on
the held-out set. Exits 1 when the held-out figures miss a target.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.routes.test_guides_matching import CHATTER, TUNING, figures, held_out, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the top-1 misses")
    args = parser.parse_args()
    result = figures(*held_out())
    print(report("held-out set", result, args.misses))
    print(report("tuning set  ", figures(TUNING, CHATTER), args.misses))
    if result["top1"] < 0.85 or result["top3"] < 0.95 or result["no_match_chatter"] < 0.9:
        sys.exit("bench_guides: the held-out figures miss a target")


if __name__ == "__main__":
    main()
