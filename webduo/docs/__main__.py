"""``python -m webduo.docs [--check]``: rewrite the generated docs, or list the stale ones (exit 1)."""

from __future__ import annotations

import argparse
import sys

from webduo.docs.generated import regenerate, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webduo.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 if a generated file is stale")
    if parser.parse_args(argv).check:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path} (run make docs)")
        return 1 if outdated else 0
    for path in regenerate():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
