#!/usr/bin/env python3
"""An independent hostile pass over the optml binary (issue 12, "Done when").

Every input is generated here, in a fresh temp folder: nothing is downloaded or copied.
Each case runs the real binary with a timeout, and says PASS or FAIL with what it saw.

    python3 bench/hostile.py [--bin target/debug/optml] [--only SUBSTRING] [--keep]

Checks, per case: the run ends (no hang), peak RSS stays bounded, the exit code is 0/1/2 as
the case demands (never 101 or a signal), no human-facing stream carries a raw control, bidi
or zero-width character, and no line starts a GitHub workflow command unless optml meant it.
"""
import argparse
import gzip
import io
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

HOSTILE_NAMES = [
    "x\n::error::pwned/.DS_Store",
    "m/\r::stop-commands::tok/.DS_Store",
    "c\u0085::add-mask::secret/Thumbs.db",
    "e\u001b]8;;http:evil.example\u0007click\u001b]8;;\u0007/.DS_Store",
    "b\u009b31m\u001b[2J/.DS_Store",
    "a\u202eyp.txt/.DS_Store",
    "d\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200f\u061c\ufeff\u007f/._x",
    "f\u2028\u2029::warning::x/.DS_Store",
    "g\u202a\u202b\u202c\u202d/inference.py",
    "h\u180e\u2060\u2061\u206f\u00ad/.DS_Store",
]
MEANT = ("::error file=", "::warning file=", "::notice file=", "::notice title=optml::")


def forbidden(c):
    o = ord(c)
    if c in "\n\t":
        return False
    return (o < 0x20 or 0x7F <= o <= 0x9F or c in "\u061c\u00ad\u180e\ufeff"
            or 0x200B <= o <= 0x200F or 0x2028 <= o <= 0x202E or 0x2060 <= o <= 0x206F)


def inert(data, annotations):
    text = data.decode("utf-8", "replace")
    bad = [c for c in text if forbidden(c)]
    if bad:
        return "raw %r" % bad[0]
    for line in text.split("\n"):
        if line.startswith("::") and not (annotations and line.startswith(MEANT)):
            return "workflow command line %r" % line[:80]
    return None


class Result:
    def __init__(self, code, out, err, rss_mb, secs, timed_out):
        self.code, self.out, self.err, self.rss_mb, self.secs, self.timed_out = code, out, err, rss_mb, secs, timed_out


BIN = None
TIMEOUT = 60


def run(args, cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=None, timeout=None):
    e = dict(os.environ, NO_COLOR="1")
    e.pop("CI", None)
    if env:
        e.update(env)
    start = time.time()
    p = subprocess.Popen([BIN] + args, cwd=cwd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=e)
    out, err = [b""], [b""]

    def read(stream, box):
        if stream:
            box[0] = stream.read()
    threads = [threading.Thread(target=read, args=(p.stdout, out)), threading.Thread(target=read, args=(p.stderr, err))]
    for t in threads:
        t.start()
    timed_out = False
    deadline = start + (timeout or TIMEOUT)
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.time() > deadline:
            timed_out = True
            p.kill()
            pid, status, usage = os.wait4(p.pid, 0)
            break
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join()
    return Result(p.returncode, out[0], err[0], usage.ru_maxrss / 1024, time.time() - start, timed_out)


# ---------- generators ----------

def tar_bytes(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_gz(path, raw):
    with open(path, "wb") as f:
        f.write(gzip.compress(raw, 9))


def header(name, size, typeflag=b"0", extra=b""):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size if size < 8 ** 11 else b"\x80" + size.to_bytes(11, "big")
    h[136:148] = b"00000000000\0"
    h[156:157] = typeflag
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[345:345 + len(extra)] = extra
    h[148:156] = b"        "
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def pax(records):
    body = b""
    for key, value in records:
        rec = b" " + key + b"=" + value + b"\n"
        n = len(rec) + 1
        while len(str(n)) + len(rec) != n:
            n = len(str(n)) + len(rec)
        body += str(n).encode() + rec
    return header(b"././@PaxHeader", len(body), b"x") + pad(body)


def gz_stream(path, chunks):
    """Write a gzip file from an iterator of chunks (big inflated sizes, small files)."""
    with gzip.open(path, "wb", compresslevel=9) as f:
        for c in chunks:
            f.write(c)


def path_bomb(path, components):
    name = b"/".join([b"d"] * components) + b"/f"
    gz_stream(path, [pax([(b"path", name)]), header(b"placeholder", 1), pad(b"x"), b"\0" * 1024])


def long_name(path, length):
    name = b"n" * length
    gz_stream(path, [pax([(b"path", name)]), header(b"placeholder", 1), pad(b"x"), b"\0" * 1024])


def pax_extension_bomb(path, size):
    # One pax header whose body is `size` bytes of a single comment record.
    def chunks():
        value_len = size - 30
        rec_len = len(b" comment=\n") + value_len
        n = rec_len + len(str(rec_len))
        while len(str(n)) + rec_len != n:
            n = len(str(n)) + rec_len
        yield header(b"././@PaxHeader", n, b"x")
        yield str(n).encode() + b" comment="
        left = value_len
        block = b"a" * (1 << 20)
        while left > 0:
            yield block[:min(left, len(block))]
            left -= len(block)
        yield b"\n"
        yield b"\0" * (-n % 512)
        yield header(b"model.pth", 1) + pad(b"x") + b"\0" * 1024
    gz_stream(path, chunks())


def gnu_longname_bomb(path, size):
    def chunks():
        yield header(b"././@LongLink", size, b"L")
        block = b"L" * (1 << 20)
        left = size
        while left > 0:
            yield block[:min(left, len(block))]
            left -= len(block)
        yield b"\0" * (-size % 512)
        yield header(b"placeholder", 1) + pad(b"x") + b"\0" * 1024
    gz_stream(path, chunks())


def gnu_sparse_bomb(path):
    # GNU 'S' member: real size 1 PiB, one tiny data region at the end; holes must not be expanded.
    real = 1 << 50
    extra = bytearray(512 - 345)
    # old GNU header: sparse entries at offset 386 (4 x 24 bytes), isextended 482, realsize 483
    h = bytearray(header(b"sparse.bin", 512, b"S"))
    off = 386
    h[off:off + 12] = b"%011o\0" % (real - 512) if real - 512 < 8 ** 11 else b"\x80" + (real - 512).to_bytes(11, "big")
    h[off + 12:off + 24] = b"%011o\0" % 512
    h[483:495] = b"\x80" + real.to_bytes(11, "big")
    h[148:156] = b"        "
    h[148:156] = b"%06o\0 " % sum(h)
    gz_stream(path, [bytes(h), b"s" * 512, header(b"model.pth", 1), pad(b"x"), b"\0" * 1024])


def pax_sparse_bomb(path):
    real = str(1 << 50).encode()
    rec = [(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"), (b"GNU.sparse.name", b"sparse.bin"), (b"GNU.sparse.realsize", real)]
    m = b"1\n" + str((1 << 50) - 512).encode() + b"\n512\n"
    data = pad(m) + b"s" * 512
    gz_stream(path, [pax(rec), header(b"GNUSparseFile.0/sparse.bin", len(data)), data, b"\0" * 1024])


def pax_sparse_map_bomb(path, entries):
    # a sparse map with millions of entries: the map itself is the bomb.
    rec = [(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"), (b"GNU.sparse.name", b"sparse.bin"), (b"GNU.sparse.realsize", str(entries * 2).encode())]

    def chunks():
        body = bytearray(str(entries).encode() + b"\n")
        for i in range(entries):
            body += b"%d\n1\n" % (i * 2)
        total = len(pad(bytes(body))) + 512
        yield pax(rec)
        yield header(b"GNUSparseFile.0/sparse.bin", total)
        yield pad(bytes(body))
        yield b"s" * 512
        yield b"\0" * 1024
    gz_stream(path, chunks())


def gzip_bomb(path, inflated):
    def chunks():
        yield header(b"model.pth", inflated)
        block = b"\0" * (1 << 20)
        left = inflated
        while left > 0:
            yield block[:min(left, len(block))]
            left -= len(block)
        yield b"\0" * (-inflated % 512) + b"\0" * 1024
    gz_stream(path, chunks())


def repeated_headers(path, copies):
    h = header(b".DS_Store", 0)
    block = h * 4096
    def chunks():
        for _ in range(copies // 4096):
            yield block
        yield h * (copies % 4096)
        yield b"\0" * 1024
    gz_stream(path, chunks())


def mkfifo(path):
    if not os.path.exists(path):
        os.mkfifo(path)


# ---------- cases ----------

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def expect(res, codes, annotations=False, rss_mb=512, human=True):
    if res.timed_out:
        return "hung (killed after %ds)" % TIMEOUT
    if res.code not in codes:
        return "exit %s, want %s: %s" % (res.code, codes, res.err.decode("utf-8", "replace")[-400:])
    if res.rss_mb > rss_mb:
        return "peak RSS %.0f MB > %d MB" % (res.rss_mb, rss_mb)
    if human:
        why = inert(res.out, annotations)
        if why:
            return "stdout: " + why
    why = inert(res.err, False)
    if why:
        return "stderr: " + why
    return None


def bomb_cases(d):
    out = []
    path_bomb(f"{d}/deep.tar.gz", 100_000)
    long_name(f"{d}/long.tar.gz", 1_000_000)
    pax_extension_bomb(f"{d}/paxext.tar.gz", 512 << 20)
    gnu_longname_bomb(f"{d}/longlink.tar.gz", 512 << 20)
    gnu_sparse_bomb(f"{d}/gnusparse.tar.gz")
    pax_sparse_bomb(f"{d}/paxsparse.tar.gz")
    pax_sparse_map_bomb(f"{d}/sparsemap.tar.gz", 2_000_000)
    gzip_bomb(f"{d}/zeros.tar.gz", 4 << 30)
    repeated_headers(f"{d}/repeat.tar.gz", 2_000_000)
    for name in ["deep", "long", "paxext", "longlink", "gnusparse", "paxsparse", "sparsemap", "zeros", "repeat"]:
        a = f"{name}.tar.gz"
        for cmd in (["check", a], ["check", "--format", "json", a], ["check", "--format", "github", a], ["snapshot", "--fields", "+sha256", a],
                    ["fix", "--dry-run", a, "-o", "dry.tar.gz"], ["diff", a, a]):
            out.append((f"bomb {name}: {' '.join(cmd[:-1])}", cmd, {0, 1, 2}))
    # repeat headers with the limits raised: aggregation must hold memory and output
    out.append(("bomb repeat, limits raised: check json", ["check", "--format", "json", "--max-ratio", "100000", "--max-entries", "3000000", "repeat.tar.gz"], {1}))
    out.append(("bomb repeat, limits raised: check human", ["check", "--max-ratio", "100000", "--max-entries", "3000000", "repeat.tar.gz"], {1}))
    out.append(("bomb zeros, --max-ratio 1000000: check", ["check", "--max-ratio", "1000000", "--max-bytes", "1GiB", "zeros.tar.gz"], {1}))
    return out


def build_hostile(d):
    os.makedirs(f"{d}/names/model", exist_ok=True)
    for n in HOSTILE_NAMES:
        p = f"{d}/names/model/{n}"
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "w").write("x")
    open(f"{d}/names/model/model.pth", "w").write("w")
    members = [(n, b"x") for n in HOSTILE_NAMES] + [("model.pth", b"w")]
    write_gz(f"{d}/names.tar.gz", tar_bytes(members))
    # a hostile rule file: untrusted text in code-free fields
    evil = "\\u001b]8;;http://evil\\u0007x\\u001b]8;;\\u0007\\n::error::rule\\u202e\\u009b2J"
    open(f"{d}/evil-rules.toml", "w").write(f'''
[pack]
name = "evil\\n::error::pack"
description = "{evil}"
[[rule]]
code = "EVL001"
name = "evil"
severity = "error"
check = "forbid"
paths = ["**/*.pth"]
message = "{evil} {{path}}"
help = "{evil}"
docs = "{evil}"
''')
    open(f"{d}/bad-rules.toml", "w").write('[[rule]]\ncode = "X\\n::error::bad\\u001b[2J\\u202e"\nname = 1\n')
    open(f"{d}/bad-config.toml", "w").write('select = ["\\n::error::cfg\\u001b[2J\\u202e"]\n"\\u001b]8;;x\\u0007key\\n::warning::" = 1\n')
    open(f"{d}/badcfg2.toml", "w").write('max-entries = "\\n::error::x\\u001b[2J\\u202e"\n')
    open(f"{d}/bad-baseline.json", "w").write('{"\\n::error::b\\u001b[2J\\u202e": 1}')
    open(f"{d}/bad-hp.json", "w").write('["\\n::error::hp\\u001b[2J\\u202e"]')
    open(f"{d}/bad-snapshot.txt", "w").write('\n::error::snap\x1b[2J\u202e\n')
    os.makedirs(f"{d}/audit/a\n::error::job\u202e\x1b[2J", exist_ok=True)
    write_gz(f"{d}/audit/a\n::error::job\u202e\x1b[2J/model.tar.gz", tar_bytes(members))
    os.makedirs(f"{d}/nf\n::error::dir\u202e\x1b[2J", exist_ok=True)


def name_cases(d):
    build_hostile(d)
    out = []
    for src in ["names.tar.gz", "names/model"]:
        for fmt in ["human", "json", "sarif", "junit", "github"]:
            out.append((f"names {src}: check --format {fmt}", ["check", "--as", "model", "--format", fmt, src], {1}, fmt == "github", fmt != "json"))
        out.append((f"names {src}: check --rules evil", ["check", "--rules", "evil-rules.toml", src], {1}, False, True))
        out.append((f"names {src}: check --rules evil github", ["check", "--format", "github", "--rules", "evil-rules.toml", src], {1}, True, True))
        out.append((f"names {src}: snapshot", ["snapshot", src], {0, 1}, False, True))
        out.append((f"names {src}: diff vs empty", ["diff", src, "empty.tar.gz"], {1}, False, True))
        out.append((f"names {src}: diff --format json", ["diff", "--format", "json", src, "empty.tar.gz"], {1}, False, False))
    write_gz(f"{d}/empty.tar.gz", tar_bytes([("model.pth", b"w")]))
    out.append(("names: fix --dry-run", ["fix", "--dry-run", "names.tar.gz", "-o", "dry.tar.gz"], {0, 1}, False, True))
    out.append(("names: fix -o", ["fix", "names.tar.gz", "-o", "fixed.tar.gz"], {0, 1}, False, True))
    out.append(("names: pack tree", ["pack", "names/model", "-o", "packed.tar.gz"], {0, 1}, False, True))
    out.append(("names: audit human", ["audit", "audit"], {0, 1}, False, True))
    out.append(("names: audit json", ["audit", "--format", "json", "audit"], {0, 1}, False, False))
    for f in ["github", "summary", "human"]:
        out.append((f"names: audit --format {f}", ["audit", "--format", f, "audit"], {0, 1, 2}, f == "github", True))
    out.append(("names: rule --all evil", ["rule", "--all", "--rules", "evil-rules.toml"], {0}, False, True))
    out.append(("names: rule EVL001", ["rule", "EVL001", "--rules", "evil-rules.toml"], {0}, False, True))
    out.append(("names: rule markdown", ["rule", "--all", "--format", "markdown", "--rules", "evil-rules.toml"], {0}, False, True))
    out.append(("names: rules evil", ["rules", "--rules", "evil-rules.toml"], {0}, False, True))
    out.append(("names: rule error", ["check", "--rules", "bad-rules.toml", "names.tar.gz"], {2}, False, True))
    out.append(("names: config error", ["check", "--config", "bad-config.toml", "names.tar.gz"], {2}, False, True))
    out.append(("names: config value error", ["check", "--config", "badcfg2.toml", "names.tar.gz"], {2}, False, True))
    out.append(("names: baseline error", ["check", "--baseline", "bad-baseline.json", "names.tar.gz"], {2}, False, True))
    out.append(("names: snapshot error", ["check", "--snapshot", "bad-snapshot.txt", "names.tar.gz"], {1, 2}, False, True))
    out.append(("names: hp error", ["run", "--no-isolate", "--hyperparameters", "bad-hp.json", "--", "true"], {2}, False, True))
    out.append(("names: missing input", ["check", "nope\n::error::x\u202e\x1b[2J"], {2}, False, True))
    out.append(("names: empty dir input", ["check", "nf\n::error::dir\u202e\x1b[2J"], {0, 1, 2}, False, True))
    out.append(("names: --select", ["check", "--select", "\n::error::sel\u202e\x1b[2J", "names.tar.gz"], {2}, False, True))
    out.append(("names: --env", ["check", "--env", "\n::error::e\u202e\x1b[2J", "names.tar.gz"], {1, 2}, False, True))
    out.append(("names: --hp run", ["run", "--no-isolate", "--hp", "\n::error::k\u202e\x1b[2J=v", "--", "true"], {0, 1, 2}, False, True))
    out.append(("names: run writes hostile", ["run", "--", "python3", "-c",
                "import os\nfor n in %r:\n p=os.path.join(os.environ['SM_MODEL_DIR'],n)\n os.makedirs(os.path.dirname(p),exist_ok=True)\n open(p,'w').write('x')" % HOSTILE_NAMES], {0, 1}, False, True))
    out.append(("names: run github", ["run", "--format", "github", "--", "python3", "-c",
                "import os\nfor n in %r:\n p=os.path.join(os.environ['SM_MODEL_DIR'],n)\n os.makedirs(os.path.dirname(p),exist_ok=True)\n open(p,'w').write('x')" % HOSTILE_NAMES], {0, 1}, True, True))
    out.append(("names: run failing command name", ["run", "--no-isolate", "--", "nope\n::error::cmd\u202e\x1b[2J"], {1, 2}, False, True))
    out.append(("names: --image name", ["check", "--image", "x\n::error::img\u202e:\x1b[2J", "names/model"], {0, 1, 2}, False, True))
    out.append(("names: --code hostile dir", ["check", "--code", "nf\n::error::dir\u202e\x1b[2J", "names/model"], {0, 1, 2}, False, True))
    return out


def special_cases(d):
    mkfifo(f"{d}/fifo")
    os.makedirs(f"{d}/ml/model", exist_ok=True)
    open(f"{d}/ml/model/model.pth", "w").write("w")
    write_gz(f"{d}/m.tar.gz", tar_bytes([("model.pth", b"w")]))
    os.makedirs(f"{d}/fifodir", exist_ok=True)
    mkfifo(f"{d}/fifodir/model.tar.gz")
    out = []
    for sp in ["/dev/zero", "fifo", "/dev/urandom"]:
        for args in (["check", "--rules", sp, "ml"], ["check", "--config", sp, "ml"], ["check", "--snapshot", sp, "ml"],
                     ["check", "--baseline", sp, "ml"], ["check", "--code", sp, "ml"], ["check", "--image", sp, "ml"],
                     ["check", sp], ["check", "--as", "model", sp], ["snapshot", sp], ["snapshot", "--config", sp, "ml"],
                     ["diff", sp, "ml"], ["diff", "ml", sp], ["diff", "--config", sp, "ml", "m.tar.gz"], ["fix", sp, "-o", "o.tar.gz"],
                     ["fix", "--dry-run", sp, "-o", "dry.tar.gz"], ["pack", sp, "-o", "p.tar.gz"], ["audit", "--state", sp, "ml"], ["audit", "--config", sp, "ml"],
                     ["audit", "--rules", sp, "ml"], ["rule", "--all", "--rules", sp], ["rules", "--config", sp],
                     ["run", "--no-isolate", "--hyperparameters", sp, "--", "true"], ["run", "--no-isolate", "--channel", "train=" + sp, "--", "true"],
                     ["run", "--no-isolate", "--config", sp, "--", "true"], ["check", "--write-baseline", sp, "ml"],
                     ["snapshot", "ml", "-o", sp], ["check", "--output", sp, "ml"]):
            out.append((f"special {sp}: {' '.join(a if a != sp else 'SP' for a in args)}", args, {0, 1, 2}))
    out.append(("special: audit folder holding a FIFO model.tar.gz", ["audit", "fifodir"], {0, 1, 2}))
    out.append(("special: check folder holding a FIFO", ["check", "fifodir"], {0, 1, 2}))
    return out


def racing(d, target, swap, args, rounds=5):
    """Swap `target` for a FIFO or a /dev/zero link and back while optml reads the tree."""
    stop = threading.Event()
    fails = []

    def swapper():
        i = 0
        while not stop.is_set():
            tmp = target + ".swap"
            try:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                if i % 2 == 0:
                    if swap == "fifo":
                        os.mkfifo(tmp)
                    else:
                        os.symlink(swap, tmp)
                else:
                    open(tmp, "w").write('{"a": 1}')
                os.rename(tmp, target)
            except OSError:
                pass
            i += 1
    t = threading.Thread(target=swapper)
    t.start()
    try:
        for _ in range(rounds):
            res = run(args, d, timeout=30)
            why = expect(res, {0, 1, 2}, rss_mb=512)
            if why:
                fails.append(why)
                break
    finally:
        stop.set()
        t.join()
    return fails[0] if fails else None


def race_cases(d):
    base = f"{d}/race"
    os.makedirs(f"{base}/model/code", exist_ok=True)
    for i in range(200):
        open(f"{base}/model/f{i}.bin", "w").write("x" * 100)
    open(f"{base}/model/config.json", "w").write("{}")
    open(f"{base}/model/code/inference.py", "w").write("def model_fn(d):\n  pass\n")
    res = []
    for swap in ["fifo", "/dev/zero", "/etc/passwd"]:
        for args in (["check", "race"], ["check", "--format", "json", "race/model"], ["snapshot", "--fields", "+sha256", "race"],
                     ["diff", "--fields", "+sha256", "race", "race"], ["pack", "race/model", "-o", "race-out.tar.gz"], ["audit", "race"]):
            res.append((f"race {swap}: {' '.join(args)}", lambda a=args, s=swap: racing(d, f"{base}/model/config.json", s, a)))
    return res


def dev_full_cases(d):
    write_gz(f"{d}/w.tar.gz", tar_bytes([("model.pth", b"w"), (".DS_Store", b"x")]))
    os.makedirs(f"{d}/wa/job", exist_ok=True)
    write_gz(f"{d}/wa/job/model.tar.gz", tar_bytes([("model.pth", b"w"), (".DS_Store", b"x")]))
    cmds = [["check", "w.tar.gz"], ["check", "--format", "json", "w.tar.gz"], ["check", "--format", "sarif", "w.tar.gz"], ["check", "--format", "github", "w.tar.gz"],
            ["check", "--format", "junit", "w.tar.gz"], ["audit", "wa"], ["audit", "--format", "json", "wa"], ["rule", "--all"], ["rules"], ["packs"],
            ["rule", "SM101"], ["snapshot", "w.tar.gz"], ["diff", "w.tar.gz", "m.tar.gz"], ["fix", "--dry-run", "w.tar.gz", "-o", "dry.tar.gz"],
            ["run", "--no-isolate", "--", "true"], ["run", "--no-isolate", "--format", "json", "--", "true"], ["--help"], ["check", "--help"], ["--version"],
            ["fix", "w.tar.gz", "-o", "wfixed.tar.gz"], ["pack", "ml/model", "-o", "wp.tar.gz"]]
    return cmds


def main():
    global BIN, TIMEOUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug/optml")
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--timeout", type=int, default=60)
    opts = ap.parse_args()
    BIN = os.path.abspath(opts.bin)
    TIMEOUT = opts.timeout
    d = tempfile.mkdtemp(prefix="optml-hostile-")
    failures = 0
    total = 0

    def report(name, why):
        nonlocal failures, total
        total += 1
        if why:
            failures += 1
        print(("FAIL " if why else "PASS ") + name.replace("\n", "\\n") + (": " + why if why else ""), flush=True)

    groups = []
    if "bomb" in opts.only or not opts.only:
        for name, args, codes in bomb_cases(d):
            groups.append((name, lambda a=args, c=codes: expect(run(a, d), c, annotations="github" in a)))
    if "names" in opts.only or not opts.only:
        for name, args, codes, annotations, human in name_cases(d):
            groups.append((name, lambda a=args, c=codes, an=annotations, h=human: expect(run(a, d), c, an, human=h)))
    if "special" in opts.only or not opts.only:
        for name, args, codes in special_cases(d):
            groups.append((name, lambda a=args, c=codes: expect(run(a, d, timeout=20), c)))
    if "race" in opts.only or not opts.only:
        groups += race_cases(d)
    if "full" in opts.only or not opts.only:
        for args in dev_full_cases(d):
            def full(a=args):
                with open("/dev/full", "wb") as f:
                    res = run(a, d, stdout=f)
                # pack reports on stderr; fix reports what it wrote and the check of the result
                # on stdout, and a report that cannot be written is exit 2 (docs/security.md).
                want = {0} if a[0] == "pack" else {2}
                why = expect(res, want, human=False)
                if not why and want == {2} and not res.err.strip():
                    why = "exit 2 without a message"
                return why

            def pipe(a=args):
                r, w = os.pipe()
                os.close(r)
                res = run(a, d, stdout=w)
                os.close(w)
                if res.code in (101,) or res.code < 0 and res.code != -signal.SIGPIPE:
                    return "exit %s: %s" % (res.code, res.err[-300:])
                if b"panick" in res.err or b"Broken pipe" in res.err:
                    return "noisy: %s" % res.err[-300:]
                return None
            groups.append(("/dev/full: " + " ".join(args), full))
            groups.append(("closed pipe: " + " ".join(args), pipe))
    for name, fn in groups:
        if opts.only and opts.only not in name:
            continue
        try:
            why = fn()
        except Exception as err:  # a broken generator is a failure of this script, say so
            why = "harness error: %r" % err
        report(name, why)
    print(f"{total - failures}/{total} passed; inputs in {d}" if opts.keep else f"{total - failures}/{total} passed")
    if not opts.keep:
        subprocess.run(["rm", "-rf", d])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
