"""Generate benchmark inputs: a large /opt/ml tree and a large model archive (tar and tar.gz).

The archive mixes many small files with a few big ones of poorly compressible data, so gzip
inflation (not tar parsing) dominates, as in real model archives.
"""
import io
import os
import random
import sys
import tarfile

work, files, archive_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
small_files = int(sys.argv[4]) if len(sys.argv) > 4 else 200000
os.makedirs(work, exist_ok=True)
rng = random.Random(42)

tree = os.path.join(work, "tree")
if files > 0 and not os.path.isdir(tree):
    for d in ["model/code", "output/data", "input/config", "input/data/train", "checkpoints"]:
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    open(os.path.join(tree, "output/success"), "w").close()
    per_dir = 1000
    for i in range(files):
        zone = ("model/shards", "output/data/logs", "input/data/train", "checkpoints/step")[i % 4]
        d = os.path.join(tree, f"{zone}{i // per_dir}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"part-{i:07d}.bin"), "wb") as f:
            f.write(b"x" * (i % 64))

tar_path = os.path.join(work, "model.tar")
if archive_mb > 0 and not os.path.exists(tar_path):
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        src = os.path.join(work, "blob")
        chunk = 64 * 1024 * 1024
        remaining = archive_mb * 1024 * 1024
        index = 0
        while remaining > 0:
            size = min(chunk, remaining)
            with open(src, "wb") as f:
                # half random, half repetitive: about 2:1 overall compression
                f.write(rng.randbytes(size // 2) + bytes(size - size // 2))
            tar.add(src, arcname=f"shard-{index:03d}.safetensors")
            remaining -= size
            index += 1
        os.remove(src)
        small = os.path.join(work, "small")
        with open(small, "wb") as f:
            f.write(b"{}")
        for i in range(20000):
            tar.add(small, arcname=f"code/assets/{i:05d}.json")
        os.remove(small)
if archive_mb > 0 and not os.path.exists(os.path.join(work, "model.tar.gz")):
    os.system(f"gzip -k -1 {tar_path}")

# Many small files: tar parsing, not inflation, is the work (the case `tar -tzf` is slow at).
small_path = os.path.join(work, f"small-{small_files}.tar.gz")
if small_files > 0 and not os.path.exists(small_path):
    with tarfile.open(small_path, "w:gz", compresslevel=6, format=tarfile.GNU_FORMAT) as tar:
        for i in range(small_files):
            data = (b'{"step": %d, "loss": 0.%04d}\n' % (i, rng.randrange(10000))) * (1 + i % 8)
            info = tarfile.TarInfo(f"model/assets/{i // 1000:03d}/{i:07d}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
