"""`python -m submissions copy-finished SOURCE_URL TARGET_URL`: copy the finished requests and
their results from one store to another (e.g. a SQLite file into PostgreSQL)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m submissions", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    copy = commands.add_parser(
        "copy-finished",
        help="copy FINISHED requests and their results; requests already there are skipped",
    )
    copy.add_argument("source", help="store URL to read, e.g. sqlite:///data/store.db")
    copy.add_argument("target", help="store URL to fill, e.g. postgresql+psycopg://...")
    args = parser.parse_args(argv)

    from submissions.store import Store, copy_finished

    source, target = Store(args.source), Store(args.target)
    try:
        copied, skipped = copy_finished(source, target)
    finally:
        source.close()
        target.close()
    print(f"copied {copied} finished request(s) with their results; skipped {skipped} "
          "already in the target")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
