#!/usr/bin/env bash
# Report formats side by side: `optml check` of one tree with many findings rendered as each
# format, with `find` on the same tree and `optml check --format json` as baselines, in the same
# run. Usage: bench/formats.sh [WORKDIR]   Env: FINDINGS (default 100000), RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
findings=${FINDINGS:-100000}
runs=${RUNS:-3}
cargo build --release --quiet
optml=$PWD/target/release/optml
# A finished /opt/ml tree whose model/ holds FINDINGS macOS AppleDouble files (one SM401
# warning each), in 100 folders.
tree="$work/formats-tree"
if [ ! -d "$tree" ]; then
  mkdir -p "$tree/model" "$tree/output/data"
  : >"$tree/output/success"
  echo weights >"$tree/model/model.pth"
  python3 - "$tree/model" "$findings" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    folder = os.path.join(root, f"d{i % 100:02d}")
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, f"._f{i}"), "w").close()
PY
fi

# median wall time and peak RSS of a command over $runs runs
measure() {
  python3 bench/median.py "$runs" "$1"
}

echo "optml $("$optml" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d); $findings findings"
echo
read -r find_time _ <<<"$(measure "find $tree")"
read -r json_time _ <<<"$(measure "$optml check --format json $tree")"
echo '| format | time | peak RSS | output | vs `find` | vs json |'
echo '|---|---|---|---|---|---|'
for format in json sarif junit github human; do
  read -r time peak <<<"$(measure "$optml check --format $format --color never $tree")"
  size=$("$optml" check --format "$format" --color never "$tree" | wc -c || true)
  printf '| %s | %s s | %s MB | %s MB | %.1fx | %.2fx |\n' "$format" "$time" "$peak" "$((size / 1000000))" \
    "$(python3 -c "print($time/$find_time)")" "$(python3 -c "print($time/$json_time)")"
done
echo
echo "find: $find_time s"
