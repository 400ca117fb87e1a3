#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 60) each, seeded from the test fixtures.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash is saved under
# fuzz/artifacts/TARGET/; turn it into a regression test before fixing it.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
repo=..
seed() {
  local target=$1; shift
  mkdir -p "corpus/$target"
  for file in "$@"; do
    [ -f "$file" ] && cp -n "$file" "corpus/$target/$(basename "$file")" 2>/dev/null || true
  done
}
seed archive "$repo"/tests/fixtures/corpus/*.tar.gz "$repo"/tests/fixtures/corpus/*.tgz "$repo"/tests/fixtures/corpus/*.tar
seed rules "$repo"/rules/*.toml
seed manifest "$repo"/snapshots/*/*.manifest "$repo"/tests/fixtures/*/*.manifest
seed config "$repo"/examples/*.toml "$repo"/src/settings/starter.toml
# Built once for every target.
cargo +nightly fuzz build -O
for target in archive rules manifest config; do
  echo "fuzz: $target for ${seconds}s"
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20
done
