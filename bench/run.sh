#!/usr/bin/env bash
# The benchmark suite: optml against tar, gzip, a raw zlib-rs inflate, Python tarfile and find on
# the same generated inputs, in the same run, plus a growth table (time and peak RSS against entry
# count and archive size, with the per-entry and per-GiB slope so linearity is visible).
# Usage: bench/run.sh [WORKDIR]   (default: a temp dir; the default sizes need ~6 GB of disk)
# Env: FILES (tree entries, default 1000000), ARCHIVE_MB (weights archive, default 2048),
# SMALL_FILES (members of the small-file archive, default 200000), RUNS (default 3),
# GROWTH_ENTRIES (default "25000 100000 250000 1000000"), GROWTH_MB (default "256 512 1024 2048";
# set either to "" to skip). CI's smoke run sets them tiny (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
files=${FILES:-1000000}
archive_mb=${ARCHIVE_MB:-2048}
small_files=${SMALL_FILES:-200000}
runs=${RUNS:-3}
growth_entries=${GROWTH_ENTRIES-25000 100000 250000 1000000}
growth_mb=${GROWTH_MB-256 512 1024 2048}
cargo build --release --quiet
cargo build --release --quiet --example raw_inflate
optml=$PWD/target/release/optml
inflate=$PWD/target/release/examples/raw_inflate
python3 bench/generate.py "$work" "$files" "$archive_mb" "$small_files"
small=$work/small-$small_files.tar.gz
small_tar=$work/small-$small_files.tar
[ -e "$small_tar" ] || gzip -dc "$small" >"$small_tar"
pylist="python3 -c 'import sys, tarfile; [m.name for m in tarfile.open(sys.argv[1])]'"

# "SECONDS PEAK_MB": median wall time over $runs runs and the peak RSS of those runs
measure() { python3 bench/median.py "$runs" "$1"; }

row() { # input, optml command, then baseline name and command pairs
  local input=$1 ours base
  ours=$(measure "$2"); shift 2
  while [ $# -gt 0 ]; do
    base=$(measure "$2")
    printf '| %s | %s | %s s | %s MB | %s s | %s MB | %.2fx |\n' "$input" "$1" "${ours% *}" "${ours#* }" \
      "${base% *}" "${base#* }" "$(python3 -c "print(${ours% *}/max(${base% *}, 0.001))")"
    shift 2
  done
}

echo "optml $("$optml" --version | cut -d' ' -f2), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
echo "tree: $files entries; model.tar.gz: $(du -m "$work/model.tar.gz" | cut -f1) MB ($(du -m "$work/model.tar" | cut -f1) MB as tar); small-file archive: $small_files members, $(du -k "$small" | cut -f1) KB"
echo
echo '| input | baseline | optml | optml RSS | baseline time | baseline RSS | ratio |'
echo '|---|---|---|---|---|---|---|'
check="$optml check --format json"
row "model.tar.gz, check" "$check $work/model.tar.gz" \
  'raw inflate' "$inflate $work/model.tar.gz" 'gzip -dc' "gzip -dc $work/model.tar.gz" 'tar -tzf' "tar -tzf $work/model.tar.gz"
# A member over 64 MiB is inflated in parallel where there are cores; pinned to one CPU,
# optml inflates on one thread.
if taskset -c 0 true 2>/dev/null; then
  row "model.tar.gz, check" "$check $work/model.tar.gz" 'check on one CPU' "taskset -c 0 $check $work/model.tar.gz"
fi
row "model.tar.gz, snapshot" "$optml snapshot $work/model.tar.gz" 'raw inflate' "$inflate $work/model.tar.gz"
row "model.tar.gz, snapshot +sha256" "$optml snapshot --fields +sha256 $work/model.tar.gz" \
  'snapshot' "$optml snapshot $work/model.tar.gz"
row "small-$small_files.tar.gz, check" "$check $small" \
  'raw inflate' "$inflate $small" 'tar -tzf' "tar -tzf $small" 'Python tarfile' "$pylist $small"
row "small-$small_files.tar.gz, snapshot" "$optml snapshot $small" 'tar -tzf' "tar -tzf $small"
row "small-$small_files.tar (plain), check" "$check $small_tar" 'tar -tf' "tar -tf $small_tar"
row "model.tar (plain), check" "$check $work/model.tar" 'tar -tf' "tar -tf $work/model.tar"
row "tree ($files entries), check" "$check $work/tree" "find -printf '%p %s %m'" "find $work/tree -printf '%p %s %m\n'"
row "tree ($files entries), snapshot" "$optml snapshot $work/tree" "find -printf '%p %s %m'" "find $work/tree -printf '%p %s %m\n'"

# growth: name, unit, unit size, then "SIZE SECONDS PEAK_MB" lines on stdin; prints the rows
# and the slope between successive sizes (seconds and MB per unit), which is flat when linear
growth() {
  python3 -c '
import sys
name, unit, per = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [tuple(map(float, line.split())) for line in sys.stdin if line.strip()]
print(f"| {name} | time | peak RSS | time per {unit} | RSS per {unit} |")
print("|---|---|---|---|---|")
prev = None
for size, secs, mb in rows:
    slope = ("-", "-") if prev is None else (
        f"{(secs - prev[1]) / ((size - prev[0]) / per):.4g} s", f"{(mb - prev[2]) / ((size - prev[0]) / per):.4g} MB")
    print(f"| {size:g} | {secs:.3f} s | {mb:g} MB | {slope[0]} | {slope[1]} |")
    prev = (size, secs, mb)
' "$@"
}

if [ -n "$growth_entries" ]; then
  echo; echo "growth against entry count (slopes between successive rows, per 1,000 entries)"
  for kind in tree archive; do
    for n in $growth_entries; do
      dir=$work/growth-$n
      python3 bench/generate.py "$dir" "$n" 0 "$n"
      input=$dir/tree; [ "$kind" = archive ] && input=$dir/small-$n.tar.gz
      echo "$n $(measure "$check $input")"
    done | growth "$kind entries, check" "1k entries" 1000
  done
fi
if [ -n "$growth_mb" ]; then
  echo; echo "growth against archive size (slopes between successive rows, per GiB compressed input)"
  for mb in $growth_mb; do
    dir=$work/size-$mb
    python3 bench/generate.py "$dir" 0 "$mb" 0 >/dev/null
    echo "$(du -m "$dir/model.tar.gz" | cut -f1) $(measure "$check $dir/model.tar.gz")"
  done | growth "model.tar.gz MB, check" GiB 1024
fi
echo; echo "load after: $(uptime | sed 's/.*load average/load average/')"
