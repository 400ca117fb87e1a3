#!/usr/bin/env bash
# The training image gate on a multi-GB image: `optml check image.tar` on a synthetic
# `docker save` archive, beside `cat` (reading the bytes) and `sha256sum` (hashing them, which
# optml must do for every layer's digest) in the same run.
# Usage: bench/image.sh [WORKDIR]   Env: GB (size of the big-file layer, default 2), RUNS (default 3).
# WORKDIR defaults to a temporary folder; the image is generated once and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
gb=${GB:-2}
runs=${RUNS:-3}
cargo build --release --quiet
optml=$PWD/target/release/optml
image="$work/image-${gb}g.tar"
if [ ! -f "$image" ]; then
  mkdir -p "$work"
  python3 - "$image" "$gb" <<'PY'
# A docker-archive (manifest.json last, as `docker save` writes it) of four layers:
#   1. an OS-like plain layer: 150,000 small files in 1,500 folders, with symlinks;
#   2. a gzip layer: 20,000 files of 8 KB text (site-packages-like);
#   3. a plain layer of GB big files of 256 MiB (weights, CUDA libraries);
#   4. the training code: /opt/ml/code/train.py and an executable /usr/local/bin/train.
import base64, hashlib, io, json, os, sys, tarfile, zlib

path, gb = sys.argv[1], int(sys.argv[2])
block = os.urandom(1 << 20)


class Hashing(io.RawIOBase):
    """Writes through to `out`, hashing what passes."""

    def __init__(self, out):
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)


class Gzip(io.RawIOBase):
    """Gzip-compresses into `out` (a Hashing), also hashing the uncompressed tar."""

    def __init__(self, out):
        self.out, self.tar = out, hashlib.sha256()
        self.z = zlib.compressobj(1, zlib.DEFLATED, 31)

    def writable(self):
        return True

    def write(self, data):
        self.tar.update(data)
        self.out.write(self.z.compress(data))
        return len(data)

    def finish(self):
        self.out.write(self.z.flush())


class Repeat(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left, len(block))
        buf[:n] = block[:n]
        self.left -= n
        return n


def add(tar, name, size=0, data=None, kind=tarfile.REGTYPE, link="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    if kind == tarfile.REGTYPE:
        info.size = len(data) if data is not None else size
        tar.addfile(info, io.BytesIO(data) if data is not None else Repeat(size))
    else:
        tar.addfile(info)


def small_files(tar):
    for d in range(1500):
        add(tar, f"usr/lib/pkg{d}", kind=tarfile.DIRTYPE, mode=0o755)
        for f in range(100):
            add(tar, f"usr/lib/pkg{d}/f{f}.so", size=1024 + (f * 37) % 3072)
        add(tar, f"usr/lib/pkg{d}/current", kind=tarfile.SYMTYPE, link="f0.so")
    add(tar, "bin", kind=tarfile.SYMTYPE, link="usr/bin")


def text_files(tar):
    # Base64 of random bytes: compresses about 4:3, as real wheels' contents do roughly.
    for i in range(20000):
        text = base64.encodebytes(os.urandom(6000))
        add(tar, f"usr/local/lib/python3.11/site-packages/p{i // 200}/m{i}.py", data=text)


def big_files(tar):
    for i in range(gb * 4):
        add(tar, f"opt/conda/lib/libbig{i}.so", size=256 << 20)


def code(tar):
    add(tar, "opt/ml/code/train.py", data=b"print('training')\n")
    add(tar, "usr/local/bin/train", data=b"#!/bin/sh\nexec python /opt/ml/code/train.py\n", mode=0o755)


layers, diff_ids, history = [], [], []
with open(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as outer:
    for step, (fill, gzip) in enumerate([(small_files, False), (text_files, True), (big_files, False), (code, False)]):
        blob = f"{path}.layer"
        with open(blob, "wb") as out:
            hashing = Hashing(out)
            sink = Gzip(hashing) if gzip else hashing
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT) as tar:
                fill(tar)
            if gzip:
                sink.finish()
        digest = hashing.sha.hexdigest()
        diff_ids.append("sha256:" + (sink.tar.hexdigest() if gzip else digest))
        name = f"blobs/sha256/{digest}"
        outer.add(blob, name)
        os.remove(blob)
        layers.append(name)
        history.append({"created_by": f"RUN {fill.__name__} # buildkit"})
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SAGEMAKER_PROGRAM=train.py"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history,
    }).encode()
    config_name = f"blobs/sha256/{hashlib.sha256(config).hexdigest()}"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["bench:latest"], "Layers": layers}]).encode()
    for name, data in [(config_name, config), ("manifest.json", manifest)]:
        add(outer, name, data=data)
PY
fi

measure() {
  python3 bench/median.py "$runs" "$1"
}

bytes=$(stat -c %s "$image")
echo "optml $("$optml" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d); image $((bytes / 1000000)) MB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$optml" check --format json "$image" >/dev/null || [ $? -eq 1 ] || { echo "optml check failed on the bench image" >&2; exit 2; }
echo
echo '| command | time | peak RSS | MB/s | vs sha256sum |'
echo '|---|---|---|---|---|'
read -r sha_time _ <<<"$(measure "sha256sum $image")"
for command in "cat $image" "sha256sum $image" "$optml check --format json $image"; do
  read -r time rss <<<"$(measure "$command")"
  label=${command//$image/image.tar}
  label=${label//$optml/optml}
  python3 -c "import sys; t, r, b, s = map(float, sys.argv[2:]); print(f'| \`{sys.argv[1]}\` | {t:.2f} s | {int(r)} MB | {b / t / 1e6:.0f} | {t / s:.2f}x |')" "$label" "$time" "$rss" "$bytes" "$sha_time"
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
