#!/usr/bin/env python3
"""Build the sample sqlite database (table `messages`) from the shipped SMS Spam Collection.

    python scripts/build_sample_db.py [--tsv data/sms_spam_collection.tsv] [--out data/sample.sqlite] [--force]
"""
import argparse
import sys
from pathlib import Path

from sortbox.sample_data import build_sample_database

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tsv", type=Path, default=ROOT / "data" / "sms_spam_collection.tsv")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sample.sqlite")
    parser.add_argument("--force", action="store_true", help="rebuild even if the database exists")
    args = parser.parse_args()
    if args.out.exists() and not args.force:
        print(f"sample database already exists: {args.out}", file=sys.stderr)
        return 0
    try:
        rows = build_sample_database(args.tsv, args.out)
    except (OSError, ValueError) as exc:
        print(f"cannot build the sample database: {exc}", file=sys.stderr)
        return 1
    print(f"built {args.out} with {rows:,} messages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
