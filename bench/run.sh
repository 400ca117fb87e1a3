#!/usr/bin/env bash
# Side-by-side benchmark: optml against tar -tzf, gzip -dc and find on the same inputs, in the
# same run. Usage: bench/run.sh [WORKDIR]   (default: a temp dir; needs ~2 GB of disk)
# Env: FILES (tree entries, default 200000), ARCHIVE_MB (default 512), SMALL_FILES (members of
# the small-file archive, default 200000), RUNS (default 3). A CI smoke run can set them small:
# FILES=2000 ARCHIVE_MB=16 SMALL_FILES=2000 RUNS=1 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
files=${FILES:-200000}
archive_mb=${ARCHIVE_MB:-512}
small_files=${SMALL_FILES:-200000}
runs=${RUNS:-3}
cargo build --release --quiet
cargo build --release --quiet --example raw_inflate
optml=$PWD/target/release/optml
inflate=$PWD/target/release/examples/raw_inflate
python3 bench/generate.py "$work" "$files" "$archive_mb" "$small_files"
small=$work/small-$small_files.tar.gz

# median wall time of a command over $runs runs, in seconds
measure() {
  python3 bench/median.py "$runs" "$1" | cut -d' ' -f1
}

row() { # name, baseline name, optml command, baseline command
  local ours base
  ours=$(measure "$3"); base=$(measure "$4")
  printf '| %s | %s s | %s | %s s | %.2fx |\n' "$1" "$ours" "$2" "$base" "$(python3 -c "print($ours/$base)")"
}

echo "optml $("$optml" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "tree: $files entries; archive: $(du -m "$work/model.tar.gz" | cut -f1) MB compressed, $(du -m "$work/model.tar" | cut -f1) MB uncompressed; small-file archive: $small_files members, $(du -k "$small" | cut -f1) KB"
echo
echo '| input | optml check | baseline | baseline time | ratio |'
echo '|---|---|---|---|---|'
row "model.tar.gz" 'raw inflate' "$optml check --format json $work/model.tar.gz" "$inflate $work/model.tar.gz"
row "model.tar.gz" 'gzip -dc' "$optml check --format json $work/model.tar.gz" "gzip -dc $work/model.tar.gz"
row "model.tar.gz" 'tar -tzf' "$optml check --format json $work/model.tar.gz" "tar -tzf $work/model.tar.gz"
row "small-$small_files.tar.gz" 'raw inflate' "$optml check --format json $small" "$inflate $small"
row "small-$small_files.tar.gz" 'tar -tzf' "$optml check --format json $small" "tar -tzf $small"
row "model.tar (plain)" 'tar -tf' "$optml check --format json $work/model.tar" "tar -tf $work/model.tar"
row "/opt/ml tree" 'find' "$optml check --format json $work/tree" "find $work/tree"
row "/opt/ml tree" 'find -printf %s%m' "$optml check --format json $work/tree" "find $work/tree -printf '%s %m\n'"
