"""Snapshot benchmark: `optml snapshot`, `check --snapshot` and `diff` against gzip -dc, tar -tzf
and find on the same inputs, in the same run; prints the markdown table of docs/benchmarks.md.

Usage: python3 bench/snapshot.py WORKDIR   (build first: cargo build --release)
Env: FILES (tree entries, default 200000), ARCHIVE_MB (default 2048), MANY (entries of the
many-small-members archive, default 1000000), RUNS (default 3).
"""
import io
import os
import statistics
import subprocess
import sys
import tarfile
import time

work = sys.argv[1]
files = int(os.environ.get("FILES", 200000))
archive_mb = int(os.environ.get("ARCHIVE_MB", 2048))
many = int(os.environ.get("MANY", 1000000))
runs = int(os.environ.get("RUNS", 3))
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
optml = os.path.join(repo, "target/release/optml")

# The tree and the big model archive come from the check benchmark's generator.
subprocess.run([sys.executable, os.path.join(repo, "bench/generate.py"), work, str(files), str(archive_mb)], check=True)

many_path = os.path.join(work, f"many-{many}.tar.gz")
if not os.path.exists(many_path):
    # One million small members in a few thousand folders: tar parsing and manifest building
    # dominate, not inflation.
    with tarfile.open(many_path, "w:gz", compresslevel=1) as tar:
        for i in range(many):
            data = b"x" * (i % 100)
            info = tarfile.TarInfo(f"shards/{i // 1000:04d}/part-{i:07d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def median(cmd):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def golden(input_path, name, fields=None):
    path = os.path.join(work, name)
    extra = f"--fields {fields}" if fields else ""
    subprocess.run(f"{optml} snapshot {extra} {input_path} -o {path}", shell=True, check=True, stderr=subprocess.DEVNULL)
    return path


tree = os.path.join(work, "tree")
model = os.path.join(work, "model.tar.gz")
tree_golden = golden(tree, "tree.manifest")
model_golden = golden(model, "model.manifest", "+sha256")
many_golden = golden(many_path, "many.manifest")

rows = [
    ("model.tar.gz", "optml snapshot", f"{optml} snapshot {model}", "gzip -dc", f"gzip -dc {model}"),
    ("model.tar.gz", "optml snapshot --fields +sha256", f"{optml} snapshot --fields +sha256 {model}", "gzip -dc", f"gzip -dc {model}"),
    ("model.tar.gz", "optml snapshot --fields +sha256", f"{optml} snapshot --fields +sha256 {model}", "gzip -dc | sha256sum", f"gzip -dc {model} | sha256sum"),
    ("model.tar.gz", "optml check --pack snapshot --snapshot (sha256)", f"{optml} check --as model --no-default-packs --pack snapshot --snapshot {model_golden} {model}", "tar -tzf", f"tar -tzf {model}"),
    (f"many-{many}.tar.gz", "optml snapshot", f"{optml} snapshot {many_path}", "tar -tzf", f"tar -tzf {many_path}"),
    (f"many-{many}.tar.gz", "optml check --pack snapshot --snapshot", f"{optml} check --as model --no-default-packs --pack snapshot --snapshot {many_golden} {many_path}", "tar -tzf", f"tar -tzf {many_path}"),
    ("tree", "optml snapshot", f"{optml} snapshot {tree}", "find -printf '%s %m'", f"find {tree} -printf '%s %m\\n'"),
    ("tree", "optml check --pack snapshot --snapshot", f"{optml} check --no-default-packs --pack snapshot --snapshot {tree_golden} {tree}", "find -printf '%s %m'", f"find {tree} -printf '%s %m\\n'"),
    ("tree", "optml diff tree manifest", f"{optml} diff {tree_golden} {tree}", "find", f"find {tree}"),
]

version = subprocess.run([optml, "--version"], capture_output=True, text=True).stdout.split()[-1]
mb = lambda p: os.path.getsize(p) // (1024 * 1024)
print(f"optml {version}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d', time.gmtime())}, median of {runs} runs")
print(f"tree: {files} files; model.tar.gz: {mb(model)} MB compressed, {mb(os.path.join(work, 'model.tar'))} MB uncompressed; "
      f"many-{many}.tar.gz: {many} members, {mb(many_path)} MB")
print()
print("| input | optml | time | baseline | time | ratio |")
print("|---|---|---|---|---|---|")
for name, ours_name, ours, base_name, base in rows:
    t_ours, t_base = median(ours), median(base)
    print(f"| {name} | `{ours_name}` | {t_ours:.2f} s | `{base_name}` | {t_base:.2f} s | {t_ours / t_base:.2f}x |", flush=True)
