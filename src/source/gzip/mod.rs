//! gzip, inflated on its own thread: the thread reads the compressed input, walks the gzip
//! members itself (so FNAME, FCOMMENT and FEXTRA of any length are skipped, as `gzip -t`
//! does, never stored), inflates with zlib-rs into large blocks and checks each member's CRC
//! and length. Blocks reach the tar reader over a bounded channel and are handed back for
//! reuse, so memory stays at a few blocks whatever the archive's size. A large member of a file
//! is inflated in parallel where a core is free (`parallel`).

mod boundary;
mod parallel;
mod raw;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::members::Stream;
use parallel::{Fault, Plan};

/// Inflated bytes per block handed to the reader: large enough that the hand-over costs nothing
/// next to inflating it, small enough that the blocks in flight stay under 2 MiB.
const BLOCK: usize = 256 << 10;
/// Blocks in flight between the inflating thread and the reader.
const QUEUE: usize = 4;

/// Blocks the reader has finished with, for the inflating threads to fill again: a long stream
/// allocates a few blocks, not one per 256 KiB.
#[derive(Default)]
pub struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    /// Spare blocks kept: as many as can be in flight, and the parallel inflate's held chunks.
    const KEPT: usize = 64;

    fn take(&self) -> Vec<u8> {
        let spare = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(BLOCK))
    }

    fn give(&self, mut block: Vec<u8>) {
        // Blocks of other sizes (a speculative chunk's first) are not worth keeping.
        if block.capacity() != BLOCK {
            return;
        }
        block.clear();
        let mut spares = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if spares.len() < Self::KEPT {
            spares.push(block);
        }
    }
}

/// How much of the compressed input the reader's current block came from, for messages and
/// the ratio limit. Kept by the reader as it takes each block, not by the inflating thread as
/// it goes, so a message names the same byte on every run.
#[derive(Default, Debug)]
pub struct Progress {
    /// Bytes of the compressed input consumed up to the end of the current block.
    pub compressed: AtomicU64,
}

/// A block of inflated bytes and how much of the compressed input was consumed to make it.
type Block = (Vec<u8>, u64);

/// How the gzip stream ended.
#[derive(Debug)]
pub enum End {
    /// Every member's CRC and length checked, and nothing follows the last one.
    Clean,
    /// Bytes that are not a gzip member follow a complete one (at this compressed offset).
    TrailingData(u64),
    /// The input ends inside a member.
    Truncated(String),
    /// A bad header, corrupt deflate data, or a CRC or length mismatch.
    Corrupt(String),
    /// Reading the input failed.
    Io(io::Error),
}

/// The inflated stream, as the tar reader consumes it.
pub struct Inflated {
    blocks: Receiver<Block>,
    pool: Arc<Pool>,
    current: Vec<u8>,
    position: usize,
    worker: Option<JoinHandle<End>>,
    pub progress: Arc<Progress>,
}

impl Inflated {
    /// Start inflating `input` on a new thread.
    pub fn spawn<R: Read + Send + 'static>(input: R) -> Inflated {
        Self::start(input, Inflater::member)
    }

    /// Start inflating the file `file` on a new thread; a large first member is inflated in
    /// parallel where there are cores for it.
    pub fn spawn_file(file: File) -> io::Result<Inflated> {
        let len = file.metadata()?.len();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        match Plan::choose(len, cores) {
            Some(plan) => Self::spawn_parallel(file, len, plan),
            None => Ok(Self::spawn(file)),
        }
    }

    fn spawn_parallel(file: File, len: u64, plan: Plan) -> io::Result<Inflated> {
        let parallel = Parallel { file: Arc::new(file.try_clone()?), len, plan };
        Ok(Self::start(file, move |inflater: &mut Inflater<File>, block: &mut Vec<u8>, crc: &mut Crc| match inflater.members {
            0 => inflater.parallel_member(&parallel, block, crc),
            _ => inflater.member(block, crc),
        }))
    }

    fn start<R: Read + Send + 'static>(input: R, member: impl FnMut(&mut Inflater<R>, &mut Vec<u8>, &mut Crc) -> Inflate + Send + 'static) -> Inflated {
        let (block_tx, blocks) = sync_channel(QUEUE);
        let pool = Arc::new(Pool::default());
        let progress = Arc::new(Progress::default());
        let worker_pool = pool.clone();
        let worker = std::thread::spawn(move || {
            let mut inflater = Inflater { input: BufReader::with_capacity(256 * 1024, input), consumed: 0, members: 0, blocks: block_tx, pool: worker_pool };
            inflater.run(member)
        });
        Inflated { blocks, pool, current: Vec::new(), position: 0, worker: Some(worker), progress }
    }

    /// Read the stream to its end (so the last member's CRC and what follows are checked) and
    /// say how it ended. Returns the bytes that were still unread.
    pub fn finish(mut self) -> (End, u64) {
        let mut unread = (self.current.len() - self.position) as u64;
        while let Ok((block, _)) = self.blocks.recv() {
            unread += block.len() as u64;
            self.pool.give(block);
        }
        let end = self.end();
        (end, unread)
    }

    /// How the stream ended, once the reader has stopped reading: a worker still inflating
    /// finds the channel closed and stops.
    pub fn end(&mut self) -> End {
        let (_, closed) = sync_channel(0);
        drop(std::mem::replace(&mut self.blocks, closed));
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(end)) => end,
            Some(Err(_)) => End::Corrupt("the inflating thread failed".into()),
            None => End::Clean,
        }
    }
}

impl Stream for Inflated {
    fn fill(&mut self) -> io::Result<&[u8]> {
        if self.position == self.current.len() {
            match self.blocks.recv() {
                Ok((block, compressed)) => {
                    self.progress.compressed.store(compressed, Ordering::Relaxed);
                    let used = std::mem::replace(&mut self.current, block);
                    self.pool.give(used);
                    self.position = 0;
                }
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.current[self.position..])
    }

    fn consume(&mut self, n: usize) {
        self.position += n;
    }
}

struct Inflater<R> {
    input: BufReader<R>,
    consumed: u64,
    /// Members inflated and checked so far.
    members: u64,
    blocks: SyncSender<Block>,
    pool: Arc<Pool>,
}

/// The reader hung up: nothing more to do.
struct HungUp;

/// How inflating a member's deflate data went. The outer `Err` means the reader hung up; the
/// inner one is how the stream failed.
type Inflate = Result<Result<(), End>, HungUp>;

/// A file's large first member, inflated in parallel.
struct Parallel {
    file: Arc<File>,
    len: u64,
    plan: Plan,
}

impl<R: Read> Inflater<R> {
    fn run(&mut self, mut member: impl FnMut(&mut Self, &mut Vec<u8>, &mut Crc) -> Inflate) -> End {
        let mut block = Vec::with_capacity(BLOCK);
        let end = self.members(&mut block, &mut member);
        // What was inflated before the end (clean or not) still reaches the reader.
        match self.send(&mut block) {
            Ok(()) => end,
            Err(HungUp) => End::Clean,
        }
    }

    fn members(&mut self, block: &mut Vec<u8>, member: &mut impl FnMut(&mut Self, &mut Vec<u8>, &mut Crc) -> Inflate) -> End {
        loop {
            match self.header() {
                Ok(true) => {}
                // The input ends cleanly after a member (or holds nothing at all).
                Ok(false) => return End::Clean,
                Err(End::Corrupt(_)) if self.members > 0 => return End::TrailingData(self.consumed),
                Err(end) => return end,
            }
            let mut crc = Crc::new();
            let inflated = match member(self, block, &mut crc) {
                Ok(Ok(())) => self.trailer(&crc),
                Ok(Err(end)) => Err(end),
                Err(HungUp) => return End::Clean,
            };
            match inflated {
                Ok(()) => self.members += 1,
                Err(end) => return end,
            }
        }
    }

    /// Hand `block` to the reader and take a spare (or a new buffer) in its place.
    fn send(&mut self, block: &mut Vec<u8>) -> Result<(), HungUp> {
        if block.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(block, self.pool.take());
        self.blocks.send((full, self.consumed)).map_err(|_| HungUp)
    }

    fn consume(&mut self, n: usize) {
        BufRead::consume(&mut self.input, n);
        self.consumed += n as u64;
    }

    fn fill(&mut self) -> Result<&[u8], End> {
        self.input.fill_buf().map_err(End::Io)
    }

    /// Read one byte of a header; `None` at the end of input.
    fn byte(&mut self) -> Result<Option<u8>, End> {
        let byte = self.fill()?.first().copied();
        if byte.is_some() {
            self.consume(1);
        }
        Ok(byte)
    }

    fn header_bytes(&mut self, n: usize) -> Result<Vec<u8>, End> {
        let mut bytes = Vec::with_capacity(n);
        while bytes.len() < n {
            match self.byte()? {
                Some(byte) => bytes.push(byte),
                None => return Err(End::Truncated(format!("the input ends inside a gzip header (byte {})", self.consumed))),
            }
        }
        Ok(bytes)
    }

    /// Skip a NUL-terminated header field of any length.
    fn skip_string(&mut self) -> Result<(), End> {
        loop {
            let available = self.fill()?;
            if available.is_empty() {
                return Err(End::Truncated(format!("the input ends inside a gzip header (byte {})", self.consumed)));
            }
            match available.iter().position(|&b| b == 0) {
                Some(at) => {
                    self.consume(at + 1);
                    return Ok(());
                }
                None => {
                    let n = available.len();
                    self.consume(n);
                }
            }
        }
    }

    /// Parse a member header. `false` at a clean end of input.
    fn header(&mut self) -> Result<bool, End> {
        let start = self.consumed;
        if self.fill()?.is_empty() {
            return Ok(false);
        }
        let fixed = self.header_bytes(10).map_err(|end| match end {
            // Fewer than 10 bytes after a member are trailing data, not a truncated member.
            End::Truncated(_) => End::Corrupt(format!("a gzip header at byte {start} is cut short")),
            other => other,
        })?;
        if fixed[0] != 0x1f || fixed[1] != 0x8b || fixed[2] != 8 {
            return Err(End::Corrupt(format!("the bytes at {start} are not a gzip header")));
        }
        let flags = fixed[3];
        if flags & 0xe0 != 0 {
            return Err(End::Corrupt(format!("the gzip header at byte {start} has reserved flags {flags:#04x}")));
        }
        if flags & 0x04 != 0 {
            let len = self.header_bytes(2)?;
            let mut left = u64::from(u16::from_le_bytes([len[0], len[1]]));
            while left > 0 {
                let available = self.fill()?.len();
                if available == 0 {
                    return Err(End::Truncated(format!("the input ends inside a gzip header (byte {})", self.consumed)));
                }
                let n = available.min(left as usize);
                self.consume(n);
                left -= n as u64;
            }
        }
        if flags & 0x08 != 0 {
            self.skip_string()?;
        }
        if flags & 0x10 != 0 {
            self.skip_string()?;
        }
        if flags & 0x02 != 0 {
            self.header_bytes(2)?;
        }
        Ok(true)
    }

    /// Inflate one member's deflate data, adding it to `crc`.
    fn member(&mut self, block: &mut Vec<u8>, crc: &mut Crc) -> Inflate {
        let mut inflate = Decompress::new(false);
        loop {
            let input = match self.input.fill_buf() {
                Ok(input) => input,
                Err(err) => return Ok(Err(End::Io(err))),
            };
            if input.is_empty() {
                return Ok(Err(End::Truncated(format!("the gzip stream ends early, at byte {} of the compressed file", self.consumed))));
            }
            let (before_in, before_len) = (inflate.total_in(), block.len());
            let status = inflate.decompress_vec(input, block, FlushDecompress::None);
            let used = (inflate.total_in() - before_in) as usize;
            self.consume(used);
            crc.update(&block[before_len..]);
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(err) => return Ok(Err(End::Corrupt(format!("corrupt deflate data near byte {} of the compressed file: {err}", self.consumed)))),
            }
            if block.len() == block.capacity() {
                self.send(block)?;
            }
        }
        Ok(Ok(()))
    }

    /// Check a member's trailer against what was inflated.
    fn trailer(&mut self, crc: &Crc) -> Result<(), End> {
        let trailer = match self.header_bytes(8) {
            Ok(trailer) => trailer,
            Err(End::Truncated(_)) => return Err(End::Truncated(format!("the gzip stream ends inside its trailer, at byte {}", self.consumed))),
            Err(end) => return Err(end),
        };
        let stored_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let stored_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if stored_crc != crc.sum() {
            return Err(End::Corrupt(format!("the gzip member ending at byte {} fails its CRC check", self.consumed)));
        }
        if stored_len != crc.amount() {
            return Err(End::Corrupt(format!("the gzip member ending at byte {} has the wrong length in its trailer", self.consumed)));
        }
        Ok(())
    }
}

impl Inflater<File> {
    /// Inflate the member whose deflate data starts here in parallel, then go on reading the
    /// file after it, so its trailer and any later member are read as usual.
    fn parallel_member(&mut self, parallel: &Parallel, block: &[u8], crc: &mut Crc) -> Inflate {
        // What was read ahead of the deflate data is dropped: the file is read again after it.
        let start = self.consumed;
        let blocks = self.blocks.clone();
        let mut sink = |data: Vec<u8>, compressed: u64| {
            crc.update(&data);
            blocks.send((data, compressed)).map_err(|_| HungUp)
        };
        debug_assert!(block.is_empty());
        let end = match parallel::inflate_member(parallel.file.clone(), parallel.len, start, parallel.plan, self.pool.clone(), &mut sink)? {
            Ok(inflated) => inflated.end,
            Err(Fault::Truncated) => return Ok(Err(End::Truncated(format!("the gzip stream ends early, at byte {} of the compressed file", parallel.len)))),
            Err(Fault::Corrupt(at, message)) => return Ok(Err(End::Corrupt(format!("corrupt deflate data near byte {at} of the compressed file: {message}")))),
            Err(Fault::Io(err)) => return Ok(Err(End::Io(err))),
        };
        if let Err(err) = self.input.seek(SeekFrom::Start(end)) {
            return Ok(Err(End::Io(err)));
        }
        self.consumed = end;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    fn inflate_all(bytes: Vec<u8>) -> (Vec<u8>, End) {
        read_all(Inflated::spawn(io::Cursor::new(bytes)))
    }

    /// Inflate `bytes` from a file in parallel, in chunks of `chunk` bytes.
    fn inflate_parallel(bytes: &[u8], chunk: u64) -> (Vec<u8>, End) {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(bytes).expect("write");
        file.seek(SeekFrom::Start(0)).expect("seek");
        read_all(Inflated::spawn_parallel(file, bytes.len() as u64, Plan { chunk, threads: 2 }).expect("spawn"))
    }

    fn read_all(mut inflated: Inflated) -> (Vec<u8>, End) {
        let mut out = Vec::new();
        loop {
            let chunk = inflated.fill().expect("fill").to_vec();
            if chunk.is_empty() {
                break;
            }
            inflated.consume(chunk.len());
            out.extend(chunk);
        }
        (out, inflated.end())
    }

    fn gzip_with_name(data: &[u8], name_len: usize) -> Vec<u8> {
        let mut builder = flate2::GzBuilder::new();
        if name_len > 0 {
            builder = builder.filename(vec![b'n'; name_len]).comment(vec![b'c'; name_len]).extra(vec![b'e'; 65535]);
        }
        let mut encoder = builder.write(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn members_with_long_header_fields_inflate() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut bytes = gzip_with_name(&data[..1_000_000], 200_000);
        bytes.extend(gzip_with_name(&data[1_000_000..], 0));
        let (out, end) = inflate_all(bytes);
        assert!(out == data, "{} bytes inflated", out.len());
        assert!(matches!(end, End::Clean), "{end:?}");
    }

    #[test]
    fn damage_is_told_apart() {
        let bytes = gzip_with_name(b"hello world", 0);
        let (_, end) = inflate_all(bytes[..bytes.len() - 3].to_vec());
        assert!(matches!(end, End::Truncated(_)), "{end:?}");
        let mut bad_crc = bytes.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        assert!(matches!(inflate_all(bad_crc).1, End::Corrupt(_)));
        let mut trailing = bytes.clone();
        trailing.extend([0u8; 100]);
        assert!(matches!(inflate_all(trailing).1, End::TrailingData(_)));
    }

    /// Data with every kind of stretch a deflate stream holds: text (dynamic blocks), random
    /// bytes (stored blocks), long runs (output that depends on the window for ever) and
    /// bf16-like weights, each longer than a test chunk.
    fn mixed(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut data = Vec::with_capacity(len);
        while data.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let stretch = 20_000 + (state % 300_000) as usize;
            let kind = (state >> 40) % 4;
            for i in 0..stretch.min(len - data.len()) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                data.push(match kind {
                    0 => b"loss step epoch weight bias layer "[(state % 34) as usize],
                    1 => state as u8,
                    2 => 0,
                    _ if i % 2 == 0 => state as u8,
                    _ => 0x3c + (state % 3) as u8,
                });
            }
        }
        data
    }

    #[test]
    fn parallel_inflate_gives_every_byte_in_order() {
        let data = mixed(6_000_000);
        for level in [1, 6, 9] {
            let mut encoder = flate2::GzBuilder::new().filename("weights.bin").write(Vec::new(), flate2::Compression::new(level));
            encoder.write_all(&data).expect("gzip");
            let bytes = encoder.finish().expect("gzip");
            for chunk in [16 << 10, 100_003, 1 << 20] {
                let (out, end) = inflate_parallel(&bytes, chunk);
                assert!(
                    out == data,
                    "level {level}, chunk {chunk}: {} of {} bytes, first difference at {:?}",
                    out.len(),
                    data.len(),
                    out.iter().zip(&data).position(|(a, b)| a != b)
                );
                assert!(matches!(end, End::Clean), "level {level}, chunk {chunk}: {end:?}");
            }
        }
    }

    #[test]
    fn parallel_inflate_reads_later_members_and_tells_damage_as_one_thread_does() {
        let data = mixed(3_000_000);
        let mut bytes = gzip_with_name(&data[..2_000_000], 70_000);
        bytes.extend(gzip_with_name(&data[2_000_000..], 0));
        let (out, end) = inflate_parallel(&bytes, 64 << 10);
        assert!(out == data && matches!(end, End::Clean), "{} bytes, {end:?}", out.len());

        let single = gzip_with_name(&data, 0);
        let cut = single[..single.len() * 2 / 3].to_vec();
        assert!(matches!(inflate_parallel(&cut, 64 << 10).1, End::Truncated(_)));
        let mut trailing = single.clone();
        trailing.extend([7u8; 100]);
        assert!(matches!(inflate_parallel(&trailing, 64 << 10).1, End::TrailingData(_)));
        for at in [single.len() / 5, single.len() / 2, single.len() - 20] {
            let mut corrupt = single.clone();
            for byte in &mut corrupt[at..at + 8] {
                *byte ^= 0x5a;
            }
            let (parallel, sequential) = (inflate_parallel(&corrupt, 64 << 10).1, inflate_all(corrupt).1);
            assert!(matches!(parallel, End::Corrupt(_)), "damage at {at}: {parallel:?}");
            assert!(matches!(sequential, End::Corrupt(_)), "damage at {at}: {sequential:?}");
        }
    }
}
