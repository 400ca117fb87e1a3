//! gzip, inflated on its own thread: the thread reads the compressed input, walks the gzip
//! members itself (so FNAME, FCOMMENT and FEXTRA of any length are skipped, as `gzip -t`
//! does, never stored), inflates with zlib-rs into large blocks and checks each member's CRC
//! and length. Blocks reach the tar reader over a bounded channel and are handed back for
//! reuse, so memory stays at a few blocks whatever the archive's size.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::members::Stream;

/// Inflated bytes per block handed to the reader: large enough that the hand-over costs nothing
/// next to inflating it, small enough that the blocks in flight stay under 2 MiB.
const BLOCK: usize = 256 << 10;
/// Blocks in flight between the inflating thread and the reader.
const QUEUE: usize = 4;

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
    spares: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
    worker: Option<JoinHandle<End>>,
    pub progress: Arc<Progress>,
}

impl Inflated {
    /// Start inflating `input` on a new thread.
    pub fn spawn<R: Read + Send + 'static>(input: R) -> Inflated {
        let (block_tx, blocks) = sync_channel(QUEUE);
        let (spares, spare_rx) = sync_channel(QUEUE + 2);
        let progress = Arc::new(Progress::default());
        let worker = std::thread::spawn(move || {
            let mut inflater = Inflater { input: BufReader::with_capacity(256 * 1024, input), consumed: 0, blocks: block_tx, spares: spare_rx };
            inflater.run()
        });
        Inflated { blocks, spares, current: Vec::new(), position: 0, worker: Some(worker), progress }
    }

    /// Read the stream to its end (so the last member's CRC and what follows are checked) and
    /// say how it ended. Returns the bytes that were still unread.
    pub fn finish(mut self) -> (End, u64) {
        let mut unread = (self.current.len() - self.position) as u64;
        while let Ok((block, _)) = self.blocks.recv() {
            unread += block.len() as u64;
            let _ = self.spares.try_send(block);
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
                    // The worker may have stopped; a spare it never takes is simply dropped.
                    let _ = self.spares.try_send(used);
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
    blocks: SyncSender<Block>,
    spares: Receiver<Vec<u8>>,
}

/// The reader hung up: nothing more to do.
struct HungUp;

impl<R: Read> Inflater<R> {
    fn run(&mut self) -> End {
        let mut block = Vec::with_capacity(BLOCK);
        let end = self.members(&mut block);
        // What was inflated before the end (clean or not) still reaches the reader.
        match self.send(&mut block) {
            Ok(()) => end,
            Err(HungUp) => End::Clean,
        }
    }

    fn members(&mut self, block: &mut Vec<u8>) -> End {
        let mut members = 0u64;
        loop {
            match self.header() {
                Ok(true) => {}
                // The input ends cleanly after a member (or holds nothing at all).
                Ok(false) => return End::Clean,
                Err(End::Corrupt(_)) if members > 0 => return End::TrailingData(self.consumed),
                Err(end) => return end,
            }
            match self.member(block) {
                Ok(Ok(())) => members += 1,
                Ok(Err(end)) => return end,
                Err(HungUp) => return End::Clean,
            }
        }
    }

    /// Hand `block` to the reader and take a spare (or a new buffer) in its place.
    fn send(&mut self, block: &mut Vec<u8>) -> Result<(), HungUp> {
        if block.is_empty() {
            return Ok(());
        }
        let mut spare = self.spares.try_recv().ok().filter(|spare| spare.capacity() >= BLOCK).unwrap_or_else(|| Vec::with_capacity(BLOCK));
        spare.clear();
        let full = std::mem::replace(block, spare);
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

    /// Inflate one member's deflate data and check its trailer. The outer `Err` means the
    /// reader hung up; the inner one is how the stream failed.
    fn member(&mut self, block: &mut Vec<u8>) -> Result<Result<(), End>, HungUp> {
        let mut inflate = Decompress::new(false);
        let mut crc = Crc::new();
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
        let trailer = match self.header_bytes(8) {
            Ok(trailer) => trailer,
            Err(End::Truncated(_)) => return Ok(Err(End::Truncated(format!("the gzip stream ends inside its trailer, at byte {}", self.consumed)))),
            Err(end) => return Ok(Err(end)),
        };
        let stored_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let stored_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if stored_crc != crc.sum() {
            return Ok(Err(End::Corrupt(format!("the gzip member ending at byte {} fails its CRC check", self.consumed))));
        }
        if stored_len != crc.amount() {
            return Ok(Err(End::Corrupt(format!("the gzip member ending at byte {} has the wrong length in its trailer", self.consumed))));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn inflate_all(bytes: Vec<u8>) -> (Vec<u8>, End) {
        let mut inflated = Inflated::spawn(io::Cursor::new(bytes));
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
}
