#!/usr/bin/env bash
# The runs behind docs/bench/: every scenario against both engines on 127.0.0.1.
# About 5 minutes on 2 cores; each run is bounded by --users and --duration.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/bench}"
bench() { .venv/bin/python -m webduo bench --mode both --out "$out" "$@"; }
bench --scenario io-sweep --users 64 --duration 10
bench --scenario io-heavy --users 64 --duration 20
bench --scenario cpu-heavy --users 8 --duration 20
bench --scenario mixed --users 32 --duration 20
