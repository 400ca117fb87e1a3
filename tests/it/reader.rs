//! The archive reader: every tar dialect real writers produce lists as GNU tar and Python's
//! tarfile list it, and hostile headers are bounded with a finding. Archives are built here,
//! with tarfile and GNU tar where they are installed and from raw header bytes otherwise.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command as Process;

use crate::common::*;

/// The names optml reads from `archive` (normalized, implied parents left out) and its count
/// of entries, from `optml snapshot` and `optml check --format json`.
fn optml_listing(archive: &Path) -> (BTreeSet<String>, u64) {
    let output = optml().args(["snapshot", "--as", "model"]).arg(archive).output().expect("run optml");
    let manifest = String::from_utf8_lossy(&output.stdout).into_owned();
    let names: BTreeSet<String> = manifest
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('/'))
        .map(|line| unescape(line.split(" type=").next().unwrap_or_default()))
        .collect();
    let (_, doc) = check_json(&["--as".as_ref(), "model".as_ref(), archive.as_os_str()]);
    (names, doc["inputs"][0]["entries"].as_u64().expect("entries"))
}

/// A manifest name with its `\ooo` escapes (spaces, control bytes) decoded.
fn unescape(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `./a//b/` -> `a/b`, as optml normalizes member names.
fn normalized(name: &str) -> String {
    let mut name = name.trim_start_matches('/');
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    name.split('/').filter(|part| !part.is_empty()).collect::<Vec<_>>().join("/")
}

/// Whether optml's listing is the reference's: the same count, every reference name, and
/// nothing else but the parent folders the manifest adds.
fn assert_same_listing(archive: &Path, reference: &[String], tool: &str) {
    let (names, count) = optml_listing(archive);
    let reference: Vec<String> = reference.iter().map(|n| normalized(n)).filter(|n| !n.is_empty() && n != ".").collect();
    let implied: BTreeSet<String> = names.iter().filter_map(|n| n.rsplit_once('/').map(|(parent, _)| parent.to_string())).collect();
    let extra: Vec<&String> = names.iter().filter(|n| !reference.contains(n) && !implied.contains(*n)).collect();
    let missing: Vec<&String> = reference.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        count == reference.len() as u64 && extra.is_empty() && missing.is_empty(),
        "{}: optml lists {count} entries, {tool} {}; missing {missing:?}, extra {extra:?}",
        archive.display(),
        reference.len()
    );
}

fn tool_exists(tool: &str) -> bool {
    Process::new(tool).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

fn run(command: &mut Process) -> String {
    let output = command.output().expect("run");
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stdout_of(command: &mut assert_cmd::Command) -> String {
    let output = command.output().expect("run optml");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Archives of each dialect Python's tarfile writes: GNU (long names and links), pax (long
/// names, a global header as `git archive` writes one, non-ASCII names), ustar (prefix field).
const TARFILE_WRITER: &str = r#"
import io, sys, tarfile
out = sys.argv[1]
long_dir = "d" * 120 + "/" + "e" * 90
def add(tar, name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
for fmt, name in [(tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax"), (tarfile.USTAR_FORMAT, "ustar")]:
    with tarfile.open(f"{out}/{name}.tar.gz", "w:gz", format=fmt,
                      pax_headers={"comment": "git-sha1"} if fmt == tarfile.PAX_FORMAT else None) as tar:
        add(tar, "model/", kind=tarfile.DIRTYPE)
        add(tar, "model/model.pth", b"weights")
        add(tar, long_dir + "/file.bin" if fmt != tarfile.USTAR_FORMAT else "p" * 120 + "/file.bin")
        add(tar, "model/link", kind=tarfile.SYMTYPE, link="l" * (150 if fmt != tarfile.USTAR_FORMAT else 50))
        add(tar, "model/hard", kind=tarfile.LNKTYPE, link="model/model.pth")
        if fmt == tarfile.PAX_FORMAT:
            add(tar, "model/caf\u00e9 \u00fcber.txt")
            add(tar, "model/" + "q" * 300)
"#;

#[test]
fn tarfile_dialects_list_as_tarfile_and_gnu_tar_list_them() {
    if !tool_exists("python3") || !tool_exists("tar") {
        eprintln!("python3 or GNU tar missing: skipped");
        return;
    }
    let dir = TestDir::new();
    run(Process::new("python3").arg("-c").arg(TARFILE_WRITER).arg(dir.path()));
    for name in ["gnu", "pax", "ustar"] {
        let archive = dir.join(&format!("{name}.tar.gz"));
        let gnu = run(Process::new("tar").arg("-tzf").arg(&archive));
        let gnu: Vec<String> = gnu.lines().map(String::from).collect();
        assert_same_listing(&archive, &gnu, "GNU tar");
        let listing = "import tarfile, sys\nfor m in tarfile.open(sys.argv[1]): print(m.name)";
        let tarfile = run(Process::new("python3").arg("-c").arg(listing).arg(&archive));
        assert_same_listing(&archive, &tarfile.lines().map(String::from).collect::<Vec<_>>(), "tarfile");
        // No phantom `pax_global_header` entry, no `././@LongLink`, no `PaxHeaders` folder.
        let (names, _) = optml_listing(&archive);
        assert!(names.iter().all(|n| !n.contains("LongLink") && !n.contains("PaxHeader") && !n.contains("pax_global")), "{names:?}");
    }
}

#[test]
fn gnu_tar_sparse_files_in_every_format_list_with_their_real_size() {
    if !tool_exists("tar") {
        eprintln!("GNU tar missing: skipped");
        return;
    }
    let dir = TestDir::new();
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    // A 3 MiB file with 2 data blocks and holes around them.
    let file = fs::File::create(src.join("sparse.bin")).unwrap();
    file.set_len(3 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    file.write_all_at(b"head", 0).unwrap();
    file.write_all_at(b"middle", 2 << 20).unwrap();
    fs::write(src.join("plain.txt"), "after the sparse member").unwrap();
    let formats: [&[&str]; 5] = [
        &["--format=oldgnu"],
        &["--format=gnu"],
        &["--format=posix", "--sparse-version=0.0"],
        &["--format=posix", "--sparse-version=0.1"],
        &["--format=posix", "--sparse-version=1.0"],
    ];
    for (i, format) in formats.iter().enumerate() {
        let archive = dir.join(&format!("sparse-{i}.tar"));
        run(Process::new("tar").arg("-cSf").arg(&archive).args(*format).arg("-C").arg(&src).args(["sparse.bin", "plain.txt"]));
        let gnu: Vec<String> = run(Process::new("tar").arg("-tf").arg(&archive)).lines().map(String::from).collect();
        assert_same_listing(&archive, &gnu, &format!("GNU tar {format:?}"));
        // The real size, not the stored size or a `GNUSparseFile.0/` name.
        let output = optml().args(["snapshot", "--as", "model"]).arg(&archive).output().unwrap();
        let manifest = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(manifest.contains(&format!("sparse.bin type=file size={}", 3 << 20)), "{format:?}: {manifest}");
        // Digests cover the stored data and the map: they finish, and a second read agrees.
        let digest = |archive: &Path| stdout_of(optml().args(["snapshot", "--as", "model", "--fields", "+sha256"]).arg(archive));
        assert_eq!(digest(&archive), digest(&archive));
        let (code, doc) = check_json(&["--as".as_ref(), "model".as_ref(), archive.as_os_str()]);
        assert_eq!(codes(&doc), vec!["MDL110"], "{format:?}: only 'not compressed'; {:#}", doc["diagnostics"]);
        assert_eq!(code, 1);
    }
}

#[test]
fn sparse_1_0_maps_with_comment_lines_list_as_bsdtar_lists_them() {
    // The map of a pax 1.0 sparse member may start with `#` comment lines (libarchive's
    // `gtar_sparse_1_17_posix10_modified` case): bsdtar skips them and GNU tar lists the member.
    let dir = TestDir::new();
    let pax = [
        pax_record("GNU.sparse.major", b"1"),
        pax_record("GNU.sparse.minor", b"0"),
        pax_record("GNU.sparse.name", b"sparse.bin"),
        pax_record("GNU.sparse.realsize", b"3145728"),
    ]
    .concat();
    let mut map = b"#!gnu-sparse-format\n#format:1.0\n1\n0\n4\n".to_vec();
    map.resize(512, 0);
    let archive = archive_of(
        &dir,
        "model.tar.gz",
        &[
            with_data(raw_header(b"PaxHeaders/sparse.bin", b'x', &size_field(pax.len()), false), &pax),
            with_data(raw_header(b"GNUSparseFile.0/sparse.bin", b'0', &size_field(512 + 4), false), &[&map[..], b"head"].concat()),
            with_data(raw_header(b"plain.txt", b'0', &size_field(5), false), b"after"),
        ],
    );
    let (names, count) = optml_listing(&archive);
    assert_eq!(names, BTreeSet::from(["sparse.bin".to_string(), "plain.txt".to_string()]));
    assert_eq!(count, 2);
    let manifest = stdout_of(optml().args(["snapshot", "--as", "model"]).arg(&archive));
    assert!(manifest.contains("sparse.bin type=file size=3145728"), "{manifest}");
    let (_, doc) = check_json(&["--as".as_ref(), "model".as_ref(), archive.as_os_str()]);
    assert!(!codes(&doc).contains(&"SM604".to_string()), "{:#}", doc["diagnostics"]);
    if tool_exists("bsdtar") {
        let bsdtar: Vec<String> = run(Process::new("bsdtar").arg("-tf").arg(&archive)).lines().map(String::from).collect();
        assert_same_listing(&archive, &bsdtar, "bsdtar");
    }
}

/// One raw 512-byte header: `name`, `typeflag`, `size` written as given (octal text or raw
/// bytes), checksum computed unsigned, or signed as old v7 and SunOS writers did.
fn raw_header(name: &[u8], typeflag: u8, size: &[u8], signed: bool) -> Vec<u8> {
    raw_link(name, typeflag, b"", size, signed)
}

fn raw_link(name: &[u8], typeflag: u8, link: &[u8], size: &[u8], signed: bool) -> Vec<u8> {
    let mut block = vec![0u8; 512];
    block[..name.len()].copy_from_slice(name);
    block[157..157 + link.len()].copy_from_slice(link);
    block[100..107].copy_from_slice(b"0000644");
    block[108..115].copy_from_slice(b"0000000");
    block[116..123].copy_from_slice(b"0000000");
    block[124..124 + size.len()].copy_from_slice(size);
    block[136..147].copy_from_slice(b"00000000000");
    block[156] = typeflag;
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block[148..156].copy_from_slice(b"        ");
    let sum: i64 = if signed { block.iter().map(|&b| i64::from(b as i8)).sum() } else { block.iter().map(|&b| i64::from(b)).sum() };
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    block
}

fn with_data(mut header: Vec<u8>, data: &[u8]) -> Vec<u8> {
    header.extend_from_slice(data);
    header.resize(header.len().div_ceil(512) * 512, 0);
    header
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3;
    let mut len = body_len + 1;
    while format!("{len} ").len() + body_len - 1 != len {
        len += 1;
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

fn archive_of(dir: &TestDir, name: &str, blocks: &[Vec<u8>]) -> std::path::PathBuf {
    let mut tar: Vec<u8> = blocks.concat();
    tar.extend_from_slice(&[0u8; 1024]);
    let path = dir.join(name);
    fs::write(&path, gzip(&tar)).unwrap();
    path
}

fn size_field(size: usize) -> Vec<u8> {
    format!("{size:011o}").into_bytes()
}

#[test]
fn raw_dialects_signed_checksums_repeated_headers_lenient_numbers() {
    let dir = TestDir::new();
    let long_a = b"first/long/name/that/loses".repeat(5);
    let long_b = b"second/long/name/that/wins".repeat(5);
    let archive = archive_of(
        &dir,
        "model.tar.gz",
        &[
            // A signed checksum over a name with bytes above 0x7f (old v7, SunOS writers).
            with_data(raw_header(b"caf\xe9.txt", b'0', &size_field(3), true), b"abc"),
            // Two GNU long names for one member: the last one wins.
            with_data(raw_header(b"././@LongLink", b'L', &size_field(long_a.len() + 1), false), &[&long_a[..], b"\0"].concat()),
            with_data(raw_header(b"././@LongLink", b'L', &size_field(long_b.len() + 1), false), &[&long_b[..], b"\0"].concat()),
            with_data(raw_header(b"short", b'0', &size_field(1), false), b"x"),
            // A size with leading spaces, an all-NUL size (0, as on volume labels), and a hard
            // link with a size but no data (as old writers made them: readers treat it as 0).
            with_data(raw_header(b"model.pth", b'0', b"    0000007", false), b"weights"),
            raw_header(b"empty.txt", b'0', &[0u8; 11], false),
            raw_link(b"hard", b'1', b"model.pth", &size_field(7), false),
            // Old-style directory: a trailing slash, typeflag NUL and a size, no data.
            raw_header(b"olddir/", 0, &size_field(1), false),
            with_data(raw_header(b"olddir/after.txt", b'0', &size_field(2), false), b"ok"),
        ],
    );
    let (names, count) = optml_listing(&archive);
    let long_b = String::from_utf8(long_b).unwrap();
    assert!(names.contains(&long_b), "{names:?}");
    assert!(names.contains("olddir/after.txt") && names.contains("hard"), "{names:?}");
    assert_eq!(count, 7, "{names:?}");
    // tarfile (and bsdtar) agree; GNU tar reads the old-style directory's size as data.
    if tool_exists("python3") {
        let listing = "import tarfile, sys\nfor m in tarfile.open(sys.argv[1]): print(m.name)";
        let tarfile = run(Process::new("python3").arg("-c").arg(listing).arg(&archive));
        assert_eq!(tarfile.lines().count(), 7, "tarfile agrees on the count: {tarfile}");
    }
}

#[test]
fn global_pax_headers_apply_and_are_not_listed() {
    let dir = TestDir::new();
    let global = [pax_record("comment", b"made by git archive"), pax_record("path", b"ignored-by-the-next")].concat();
    let local = pax_record("path", b"model/from-pax.pth");
    let archive = archive_of(
        &dir,
        "model.tar.gz",
        &[
            with_data(raw_header(b"pax_global_header", b'g', &size_field(global.len()), false), &global),
            with_data(raw_header(b"PaxHeaders/x", b'x', &size_field(local.len()), false), &local),
            with_data(raw_header(b"model/truncated-ustar-name", b'0', &size_field(1), false), b"x"),
        ],
    );
    let (names, count) = optml_listing(&archive);
    assert_eq!(count, 1, "{names:?}");
    assert!(names.contains("model/from-pax.pth"), "{names:?}");
}

#[test]
fn hostile_headers_are_bounded_with_a_finding() {
    let dir = TestDir::new();
    let check = |path: &Path| check_json(&["--as".as_ref(), "model".as_ref(), path.as_os_str()]);
    let good = with_data(raw_header(b"model.pth", b'0', &size_field(7), false), b"weights");

    // A GNU long name claiming 1 GiB is refused before anything is allocated.
    let huge = archive_of(&dir, "huge.tar.gz", &[good.clone(), raw_header(b"././@LongLink", b'L', &size_field(1 << 30), false)]);
    let (code, doc) = check(&huge);
    assert!(codes(&doc).contains(&"SM613".to_string()), "{:#}", doc["diagnostics"]);
    assert_eq!(code, 1);

    // pax sizes that are negative or too large for 64 bits stop reading: where the next
    // header is would be a guess (Python's tarfile reads a smuggled member there).
    for size in [&b"-5"[..], b"99999999999999999999999"] {
        let record = pax_record("size", size);
        let path = archive_of(
            &dir,
            "size.tar.gz",
            &[
                good.clone(),
                with_data(raw_header(b"PaxHeaders/x", b'x', &size_field(record.len()), false), &record),
                raw_header(b"victim", b'0', &size_field(0), false),
            ],
        );
        let (_, doc) = check(&path);
        assert!(codes(&doc).contains(&"SM604".to_string()), "{:#}", doc["diagnostics"]);
        let message = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["rule"] == "SM604").unwrap()["message"].to_string();
        assert!(message.contains("pax size"), "{message}");
    }

    // A record whose length runs past its header is malformed: a warning, the member listed.
    let bad_record = b"99 path=elsewhere\n".to_vec();
    let path =
        archive_of(&dir, "record.tar.gz", &[with_data(raw_header(b"PaxHeaders/x", b'x', &size_field(bad_record.len()), false), &bad_record), good.clone()]);
    let (_, doc) = check(&path);
    assert!(codes(&doc).contains(&"SM614".to_string()), "{:#}", doc["diagnostics"]);
    assert_eq!(doc["inputs"][0]["entries"], 1);

    // A NUL inside a GNU long name: cut there, and flagged.
    let name = b"model/weights.pth\0.exe";
    let path = archive_of(&dir, "nul.tar.gz", &[with_data(raw_header(b"././@LongLink", b'L', &size_field(name.len()), false), name), good.clone()]);
    let (names, _) = optml_listing(&path);
    assert!(names.contains("model/weights.pth"), "{names:?}");
    let (_, doc) = check(&path);
    assert!(codes(&doc).contains(&"SM614".to_string()), "{:#}", doc["diagnostics"]);

    // A sparse member claiming a petabyte: listed with that size, digested from what is stored.
    let map = b"1\n1125899906842617\n7\n".to_vec();
    let records = [
        pax_record("GNU.sparse.major", b"1"),
        pax_record("GNU.sparse.minor", b"0"),
        pax_record("GNU.sparse.name", b"model/huge.bin"),
        pax_record("GNU.sparse.realsize", b"1125899906842624"),
    ]
    .concat();
    let mut data = map.clone();
    data.resize(512, 0);
    data.extend_from_slice(b"weights");
    let path = archive_of(
        &dir,
        "petabyte.tar.gz",
        &[
            with_data(raw_header(b"PaxHeaders/x", b'x', &size_field(records.len()), false), &records),
            with_data(raw_header(b"GNUSparseFile.0/huge.bin", b'0', &size_field(data.len()), false), &data),
        ],
    );
    let manifest = stdout_of(optml().args(["snapshot", "--as", "model", "--fields", "+sha256"]).arg(&path));
    assert!(manifest.contains("model/huge.bin type=file size=1125899906842624"), "{manifest}");
}

#[test]
fn hard_links_resolve_against_earlier_members_and_fix_refuses_broken_ones() {
    let dir = TestDir::new();
    let cases: [(&str, &[Member]); 4] = [
        ("missing", &[Member::File("model.pth", b"w"), Member::Hardlink("copy.pth", "nowhere.pth")]),
        ("self", &[Member::File("model.pth", b"w"), Member::Hardlink("loop.pth", "loop.pth")]),
        ("later", &[Member::Hardlink("early.pth", "model.pth"), Member::File("model.pth", b"w")]),
        ("escaping", &[Member::File("model.pth", b"w"), Member::Hardlink("out.pth", "../etc/passwd")]),
    ];
    for (case, members) in cases {
        let path = tar_gz(&dir, &format!("{case}.tar.gz"), members);
        let (code, doc) = check_json(&["--as".as_ref(), "model".as_ref(), path.as_os_str()]);
        assert!(codes(&doc).contains(&"SM615".to_string()), "{case}: {:#}", doc["diagnostics"]);
        assert_eq!(code, 1);
        let output = optml().arg("fix").arg(&path).arg("-o").arg(dir.join("fixed.tar.gz")).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{case}: fix refuses");
        assert!(String::from_utf8_lossy(&output.stderr).contains("hard link"), "{case}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(!dir.join("fixed.tar.gz").exists());
    }
    // A good hard link is no finding.
    let path = tar_gz(&dir, "good.tar.gz", &[Member::File("model.pth", b"w"), Member::Hardlink("copy.pth", "./model.pth")]);
    let (_, doc) = check_json(&["--as".as_ref(), "model".as_ref(), path.as_os_str()]);
    assert!(!codes(&doc).contains(&"SM615".to_string()), "{:#}", doc["diagnostics"]);
}

#[test]
fn gzip_headers_with_long_fields_read_as_gzip_does() {
    let dir = TestDir::new();
    let tar = tar_bytes(&[Member::File("model.pth", &TORCHSCRIPT)]);
    let mut encoder = flate2::GzBuilder::new()
        .filename(vec![b'n'; 100_000])
        .comment(vec![b'c'; 100_000])
        .extra(vec![b'e'; 65_535])
        .write(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &tar).unwrap();
    let path = dir.join("model.tar.gz");
    fs::write(&path, encoder.finish().unwrap()).unwrap();
    if tool_exists("gzip") {
        assert!(Process::new("gzip").arg("-t").arg(&path).status().unwrap().success());
    }
    let (code, doc) = check_json(&["--as".as_ref(), "model".as_ref(), path.as_os_str()]);
    assert_eq!((code, codes(&doc)), (0, Vec::<String>::new()), "{:#}", doc["diagnostics"]);
}

#[test]
fn other_compressions_are_unsupported_not_truncated() {
    let dir = TestDir::new();
    let lzma_header = [0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x33];
    let cases: [(&str, &[u8]); 4] = [
        ("model.tar.lz4", &[0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0, 0, 0, 0]),
        ("model.tlz", b"LZIP\x01\x0c\x00\x33\x1b\xec\x15\x07"),
        ("model.tar.lzma", &lzma_header),
        ("model.tar.Z", &[0x1f, 0x9d, 0x90, 0x6d, 0x6f, 0x64]),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        let (code, doc) = check_json(&["--as".as_ref(), "model".as_ref(), path.as_os_str()]);
        assert_eq!(codes(&doc), vec!["SM602"], "{name}: {:#}", doc["diagnostics"]);
        assert_eq!(code, 1);
    }
}

/// bf16-like weights: a random mantissa byte beside an exponent byte of three values, which
/// deflate compresses to about 0.7 of its size in dynamic blocks, as real weights.
fn weights(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut data = vec![0u8; len];
    for pair in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for (i, byte) in pair.iter_mut().enumerate() {
            let bits = (state >> (8 * i)) as u8;
            *byte = if i % 2 == 0 { bits } else { 0x3c + bits % 3 };
        }
    }
    data
}

/// A weights archive large enough to be inflated in parallel (64 MiB compressed) gives the
/// same manifest, digests included, as on one core, where it is inflated on one thread; and a
/// damaged one the same finding. `taskset` pins optml to one CPU for the one-thread run.
#[test]
fn a_large_weights_archive_reads_the_same_in_parallel_as_on_one_thread() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 || !Process::new("taskset").args(["-c", "0", "true"]).status().is_ok_and(|s| s.success()) {
        eprintln!("skipped: needs two cores and taskset");
        return;
    }
    let dir = TestDir::new();
    let shard = weights(100 << 20);
    let tar = tar_bytes(&[
        Member::File("model/config.json", b"{\"architectures\": [\"Llama\"]}"),
        Member::File("model/model.safetensors", &shard),
        Member::File("code/inference.py", b"def model_fn(model_dir):\n    pass\n"),
    ]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(3));
    std::io::Write::write_all(&mut encoder, &tar).expect("gzip");
    let compressed = encoder.finish().expect("gzip");
    assert!(compressed.len() > 64 << 20, "{} bytes compressed: too small to be inflated in parallel", compressed.len());
    let sound = dir.join("model.tar.gz");
    fs::write(&sound, &compressed).expect("write");
    let mut damaged_bytes = compressed;
    let middle = damaged_bytes.len() / 2;
    for byte in &mut damaged_bytes[middle..middle + 64] {
        *byte ^= 0xa5;
    }
    let damaged = dir.join("damaged.tar.gz");
    fs::write(&damaged, &damaged_bytes).expect("write");

    let on_one_core = |args: &[&std::ffi::OsStr]| {
        let output = Process::new("taskset").args(["-c", "0"]).arg(assert_cmd::cargo::cargo_bin("optml")).args(args).output().expect("run optml");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let parallel = |args: &[&std::ffi::OsStr]| {
        let output = optml().args(args).output().expect("run optml");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let snapshot = ["snapshot".as_ref(), "--fields".as_ref(), "+sha256".as_ref(), sound.as_os_str()];
    let (code, manifest) = parallel(&snapshot);
    assert_eq!(code, Some(0), "{manifest}");
    assert!(manifest.contains("model/model.safetensors"), "{manifest}");
    assert_eq!((code, manifest), on_one_core(&snapshot));

    let check = ["check".as_ref(), "--format".as_ref(), "json".as_ref(), damaged.as_os_str()];
    let (code, report) = parallel(&check);
    assert_eq!(code, Some(1), "{report}");
    let doc: serde_json::Value = serde_json::from_str(&report).expect("json");
    let (one_code, one_report) = on_one_core(&check);
    let one_doc: serde_json::Value = serde_json::from_str(&one_report).expect("json");
    assert_eq!((code, codes(&doc)), (one_code, codes(&one_doc)), "{report}\n{one_report}");
}
