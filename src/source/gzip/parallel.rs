//! Speculative parallel inflate of one large gzip member in a file (the technique of rapidgzip,
//! Knespel and Brunst 2023), for archives where inflating is the whole cost and a core is free.
//!
//! The compressed member is cut into chunks of a few MiB. This thread inflates the first
//! itself; a thread per later chunk (as many at once as there are cores) finds the first
//! block that starts in its chunk ([`boundary::find`]) and inflates from there without knowing
//! the 32 KiB window before it: twice, once with a window of zeros and once of 0xff bytes.
//! Output that depends on the window differs between the two; once 32 KiB in a row agree, the
//! inflater's own window no longer holds anything from the unknown one, and what follows is
//! exact. Only the disagreeing prefix (typically tens of KiB) is inflated again, here, once the
//! chunk before has ended and its window is known.
//!
//! Every chunk stops at the first block boundary at or after the next chunk's first byte, the
//! very block the next chunk's search finds first. A speculative chunk is used only if the
//! inflate before it ended exactly at its start; otherwise (a false candidate, a fixed-Huffman
//! block the search does not look for, output that never stopped depending on the window,
//! corrupt data) this thread inflates that chunk itself. A wrong guess costs time, never bytes.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use super::boundary::{self, Kind};
use super::raw::{RawInflate, Stop, WINDOW};
use super::{HungUp, Pool, BLOCK};

/// Compressed bytes per chunk: large enough that finding a block and inflating the prefix twice
/// cost a few percent of it, small enough that a chunk's output waiting for its turn is a few MiB.
const CHUNK: u64 = 4 << 20;

/// Speculating threads at most: each holds up to a chunk's output while the chunks before it
/// finish, so memory grows with them, while this thread, forwarding and checking the CRC of
/// every byte, would be the limit not far beyond.
const MAX_THREADS: usize = 4;

/// How to cut a member, and across how many threads.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Compressed bytes per chunk.
    pub chunk: u64,
    /// Chunks inflated at once besides the one this thread is on.
    pub threads: usize,
}

impl Plan {
    /// Parallel for a member of `len` compressed bytes with `cores` cores, or `None` where one
    /// thread is as fast: a single core, or a member of fewer than 16 chunks (64 MiB), where
    /// the threads' start and the speculative prefixes are not repaid.
    pub fn choose(len: u64, cores: usize) -> Option<Plan> {
        (cores >= 2 && len >= 16 * CHUNK).then_some(Plan { chunk: CHUNK, threads: cores.min(MAX_THREADS) })
    }
}
/// Blocks of output a speculative chunk may hold while the chunks before it finish.
const HELD_BLOCKS: usize = 24;
/// Output inflated twice before a chunk gives up on its prefix resolving (long runs of
/// repeated bytes can depend on the window for ever; they inflate fast on this thread).
const DUAL_LIMIT: usize = 4 << 20;
/// How much a stretch must inflate to, per compressed byte, for the next chunks to be inflated
/// speculatively. Weights-like data (1.05 to 1.5) inflates slowest per compressed byte, all in
/// Huffman-coded literals, and stops depending on the unknown window within tens of KiB.
/// Stored blocks (1.0) are copied, not inflated, faster than threads repay; text and code (3 to
/// 5) depend on the window for hundreds of KiB to MiBs, inflated again on this thread; long runs
/// (far above) never stop depending on it. Measured in docs/benchmarks.md.
const SPECULATE_RATIOS: std::ops::Range<f64> = 1.02..2.5;
/// Candidate block starts a chunk tries before leaving its stretch to this thread.
const MAX_CANDIDATES: usize = 32;
/// Compressed bytes read at a time.
const FEED: usize = 256 << 10;
/// The longest block header a candidate needs past its first bit, with room to spare.
const HEADER_SLACK: u64 = 1024;

/// Positioned reads of the compressed file, a buffer at a time.
pub struct Input {
    file: Arc<File>,
    len: u64,
    buf: Vec<u8>,
    start: u64,
}

impl Input {
    pub fn new(file: Arc<File>, len: u64) -> Input {
        Input { file, len, buf: Vec::new(), start: 0 }
    }

    /// The bytes from `offset` to the end of the buffer, reading a new buffer there if
    /// `offset` is outside it; empty at the end of the file.
    fn at(&mut self, offset: u64) -> io::Result<&[u8]> {
        let end = self.start + self.buf.len() as u64;
        if offset < self.start || offset >= end {
            let want = (self.len.saturating_sub(offset)).min(FEED as u64) as usize;
            self.buf.resize(want, 0);
            let mut filled = 0;
            while filled < want {
                match self.file.read_at(&mut self.buf[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            self.buf.truncate(filled);
            self.start = offset;
        }
        Ok(&self.buf[(offset - self.start) as usize..])
    }

    fn byte(&mut self, offset: u64) -> io::Result<Option<u8>> {
        Ok(self.at(offset)?.first().copied())
    }
}

/// How an inflate failed.
pub enum Fault {
    /// The file ends before the deflate stream does.
    Truncated,
    /// The deflate data is corrupt near this compressed byte.
    Corrupt(u64, String),
    Io(io::Error),
}

/// Where an inflate stopped.
#[derive(Clone, Copy)]
struct Reached {
    bit: u64,
    stream_end: bool,
}

/// Where one piece of inflating is to stop: at the first block boundary at or after `bit`, or
/// after `output` bytes, whichever is first (or at the end of the stream).
#[derive(Clone, Copy)]
struct Goal {
    bit: u64,
    output: u64,
}

/// Where blocks of output go as they fill: with the compressed offset each was inflated up to.
type Sink<'a> = dyn FnMut(Vec<u8>, u64) -> Result<(), HungUp> + 'a;

/// Inflate exactly with `raw` toward `goal`, filling `block` and handing it to `sink` each time
/// it is full. Returns where it stopped.
fn inflate_to(
    raw: &mut RawInflate,
    input: &mut Input,
    goal: Goal,
    block: &mut Vec<u8>,
    pool: &Pool,
    sink: &mut Sink,
) -> Result<Result<Reached, Fault>, HungUp> {
    let mut produced = 0u64;
    loop {
        if produced == goal.output {
            return Ok(Ok(Reached { bit: raw.bit(), stream_end: false }));
        }
        if block.len() == block.capacity() {
            let full = std::mem::replace(block, pool.take());
            sink(full, raw.next_byte())?;
        }
        let at = raw.next_byte();
        let bytes = match input.at(at) {
            Ok(bytes) => bytes,
            Err(err) => return Ok(Err(Fault::Io(err))),
        };
        if bytes.is_empty() {
            return Ok(Err(Fault::Truncated));
        }
        let before = block.len();
        let step = raw.inflate(bytes, block, (goal.output - produced).min(usize::MAX as u64) as usize);
        produced += (block.len() - before) as u64;
        match step {
            Ok((_, Stop::End)) => return Ok(Ok(Reached { bit: raw.bit(), stream_end: true })),
            Ok((_, Stop::Boundary)) if raw.bit() >= goal.bit => return Ok(Ok(Reached { bit: raw.bit(), stream_end: false })),
            Ok(_) => {}
            Err(message) => return Ok(Err(Fault::Corrupt(raw.next_byte(), message))),
        }
    }
}

/// What a speculative chunk tells this thread, in order: where it starts (or that it found no
/// start), its exact output, and where it ended.
enum Message {
    /// The chunk starts at this bit with this kind of block; its first `prefix` bytes of output
    /// depend on the window before it and are not sent.
    Start {
        bit: u64,
        kind: Kind,
        prefix: u64,
    },
    Data(Vec<u8>, u64),
    /// The chunk ended here, with this window.
    End {
        reached: Reached,
        window: Vec<u8>,
    },
}

/// Inflate one speculative chunk, `index` (≥ 1), sending what it finds to `tx`; any failure
/// simply ends the messages early.
fn speculate(input: &mut Input, index: u64, size: u64, tx: SyncSender<Message>, pool: &Pool) {
    let len = input.len;
    let first = index * size;
    let goal = Goal { bit: (first + size) * 8, output: u64::MAX };
    let mut from = first * 8;
    // Search the chunk for a block whose start inflates twice to an exact suffix; a few false
    // candidates in a row mean data this search does not suit.
    let mut attempts = 0;
    let (raw, output, start) = loop {
        attempts += 1;
        if attempts > MAX_CANDIDATES {
            return;
        }
        let Some((bit, kind)) = find_block(input, from, (first + size).min(len) * 8) else { return };
        match resolve(input, bit, goal) {
            Ok((raw, output, prefix)) => break (raw, output, Message::Start { bit, kind, prefix }),
            Err(Unresolved::NotABlock) => from = bit + 1,
            Err(Unresolved::TooShort) => return,
        }
    };
    if tx.send(start).is_err() {
        return;
    }
    let (mut raw, (mut block, reached)) = (raw, output);
    let mut sink = |full: Vec<u8>, offset: u64| tx.send(Message::Data(full, offset)).map_err(|_| HungUp);
    let reached = match reached {
        Some(reached) => reached,
        None => match inflate_to(&mut raw, input, goal, &mut block, pool, &mut sink) {
            Ok(Ok(reached)) => reached,
            _ => return,
        },
    };
    let offset = raw.next_byte();
    if !block.is_empty() && sink(block, offset).is_err() {
        return;
    }
    let _ = tx.send(Message::End { reached, window: raw.window() });
}

/// The first candidate block start in `[from, until)` (bits), reading as it goes.
fn find_block(input: &mut Input, mut from: u64, until: u64) -> Option<(u64, Kind)> {
    while from < until {
        let base = from / 8;
        let bytes = input.at(base).ok()?;
        if bytes.is_empty() {
            return None;
        }
        // Candidates near the end of what was read may need bytes past it: search up to
        // HEADER_SLACK before it, unless it is the end of the file.
        let read_to = base + bytes.len() as u64;
        let searchable = if bytes.len() == FEED { read_to - HEADER_SLACK } else { read_to };
        if let Some(found) = boundary::find(bytes, base, from, until.min(searchable * 8)) {
            return Some(found);
        }
        from = searchable * 8;
    }
    None
}

/// Inflate from `bit` twice, with windows of zeros and of 0xff, until 32 KiB of output in a row
/// agree (from there on the output is exact) or `goal` is reached. Returns the inflater that
/// used the zero window, the exact output after the prefix (in a block, unless it is more), whether
/// the goal was reached already, and the length of the prefix.
#[allow(clippy::type_complexity)]
fn resolve(input: &mut Input, bit: u64, goal: Goal) -> Result<(RawInflate, (Vec<u8>, Option<Reached>), u64), Unresolved> {
    let mut start = |window: &[u8]| restart(input, bit, window).map_err(|_| Unresolved::NotABlock);
    let (mut zeros, mut ones) = (start(&[0u8; WINDOW])?, start(&[0xffu8; WINDOW])?);
    let (mut out_zeros, mut out_ones) = (Vec::with_capacity(BLOCK), Vec::with_capacity(BLOCK));
    // One past the last byte that differed: the prefix.
    let mut prefix = 0usize;
    loop {
        if out_zeros.capacity() - out_zeros.len() < BLOCK / 4 {
            out_zeros.reserve_exact(BLOCK);
            out_ones.reserve_exact(BLOCK);
        }
        let bytes = input.at(zeros.next_byte()).map_err(|_| Unresolved::NotABlock)?;
        if bytes.is_empty() {
            return Err(Unresolved::NotABlock);
        }
        let before = out_zeros.len();
        let (_, stop) = zeros.inflate(bytes, &mut out_zeros, usize::MAX).map_err(|_| Unresolved::NotABlock)?;
        // The same input makes the same amount of output whatever the window holds.
        while out_ones.len() < out_zeros.len() {
            let bytes = input.at(ones.next_byte()).map_err(|_| Unresolved::NotABlock)?;
            let want = out_zeros.len() - out_ones.len();
            ones.inflate(bytes, &mut out_ones, want).map_err(|_| Unresolved::NotABlock)?;
        }
        if let Some(last) = out_zeros[before..].iter().zip(&out_ones[before..]).rposition(|(a, b)| a != b) {
            prefix = before + last + 1;
        }
        let reached = match stop {
            Stop::End => Some(Reached { bit: zeros.bit(), stream_end: true }),
            Stop::Boundary if zeros.bit() >= goal.bit => Some(Reached { bit: zeros.bit(), stream_end: false }),
            _ => None,
        };
        let exact = out_zeros.len() - prefix;
        // The chunk's window must be exact too, unless nothing follows it.
        if exact >= WINDOW || reached.is_some_and(|reached| reached.stream_end) {
            out_zeros.drain(..prefix);
            return Ok((zeros, (out_zeros, reached), prefix as u64));
        }
        if reached.is_some() || out_zeros.len() > DUAL_LIMIT {
            return Err(Unresolved::TooShort);
        }
    }
}

/// Why a candidate start was not used.
enum Unresolved {
    /// It does not inflate: try the next candidate.
    NotABlock,
    /// Its output still depended on the unknown window where the chunk ends (or after
    /// [`DUAL_LIMIT`]): a later candidate would do no better.
    TooShort,
}

/// A member's deflate stream, inflated.
#[derive(Debug)]
pub struct Inflated {
    /// The byte after the deflate stream, where the member's trailer starts.
    pub end: u64,
    /// Chunks whose speculative inflate was used: what the tests check the speculation by.
    #[cfg_attr(not(test), allow(dead_code))]
    pub speculative: u64,
}

/// Inflate the deflate stream of one gzip member that starts at byte `start` of `file` (whose
/// length is `len`), in parallel, handing exact output to `sink` in order.
pub fn inflate_member(file: Arc<File>, len: u64, start: u64, plan: Plan, pool: Arc<Pool>, sink: &mut Sink) -> Result<Result<Inflated, Fault>, HungUp> {
    let mut input = Input::new(file.clone(), len);
    let mut raw = match restart(&mut input, start * 8, &[]) {
        Ok(raw) => raw,
        Err(fault) => return Ok(Err(fault)),
    };
    // Chunks are numbered from the start of the file. Chunk `chunk` is the stretch from the
    // first block boundary at or after its first byte to the first at or after the next
    // chunk's; the member's first chunk is inflated here.
    let size = plan.chunk;
    let mut chunk = start / size;
    let mut spawned = chunk + 1;
    let mut pending: VecDeque<(u64, Receiver<Message>)> = VecDeque::new();
    // Threads that live as long as the member, each taking every `threads`-th chunk in turn:
    // their buffers are reused, where a thread per chunk left each one's in its own heap.
    let workers: Vec<SyncSender<(u64, SyncSender<Message>)>> = (0..plan.threads)
        .map(|_| {
            let (job_tx, jobs) = sync_channel::<(u64, SyncSender<Message>)>(plan.threads);
            let (mut input, pool) = (Input::new(file.clone(), len), pool.clone());
            std::thread::spawn(move || {
                for (index, tx) in jobs {
                    speculate(&mut input, index, size, tx, &pool);
                }
            });
            job_tx
        })
        .collect();
    let mut block = pool.take();
    // Where the exact output has reached; `raw` is valid there unless a speculative chunk moved
    // it on, when `window` holds the 32 KiB before it.
    let mut at = Reached { bit: start * 8, stream_end: false };
    let mut window: Option<Vec<u8>> = None;
    let mut used = 0;
    // Output passed on so far, to tell how well each chunk compressed.
    let sent = Cell::new(0u64);
    let mut counted = |data: Vec<u8>, offset: u64| {
        sent.set(sent.get() + data.len() as u64);
        sink(data, offset)
    };
    let sink = &mut counted;
    let mut speculating = true;
    loop {
        if speculating {
            spawned = spawned.max(chunk + 1);
        }
        while speculating && pending.len() < plan.threads && spawned * size < len {
            let (tx, rx) = sync_channel(HELD_BLOCKS);
            // A worker that has gone (it cannot, short of a panic) leaves its chunks to this thread.
            let _ = workers[(spawned % plan.threads as u64) as usize].send((spawned, tx));
            pending.push_back((spawned, rx));
            spawned += 1;
        }
        // A chunk the exact output has already passed (one block spanning it) is of no use.
        let speculative = match pending.front() {
            Some(&(index, _)) if index == chunk => pending.pop_front().map(|(_, rx)| rx),
            _ => None,
        };
        let (from_bit, from_output) = (at.bit, sent.get() + block.len() as u64);
        let accepted = match speculative {
            Some(rx) => take_speculative(&rx, (chunk + 1) * size * 8, &mut input, at.bit, &mut window, &mut raw, &mut block, &pool, sink)?,
            None => None,
        };
        let reached = match accepted {
            Some(reached) => {
                used += 1;
                reached
            }
            None => exact(&mut raw, &mut window, &mut input, at.bit, Goal { bit: (chunk + 1) * size * 8, output: u64::MAX }, &mut block, &pool, sink)?,
        };
        at = match reached {
            Ok(reached) => reached,
            Err(fault) => return Ok(Err(fault)),
        };
        let ratio = (sent.get() + block.len() as u64 - from_output) as f64 * 8.0 / (at.bit - from_bit).max(1) as f64;
        speculating = SPECULATE_RATIOS.contains(&ratio);
        if at.stream_end {
            if !block.is_empty() {
                sink(std::mem::take(&mut block), at.bit.div_ceil(8))?;
            }
            return Ok(Ok(Inflated { end: at.bit.div_ceil(8), speculative: used }));
        }
        chunk = at.bit / 8 / size;
        while pending.front().is_some_and(|&(index, _)| index < chunk) {
            pending.pop_front();
        }
    }
}

/// Inflate exactly from `bit` toward `goal`: with `raw`, or with a new inflater if a
/// speculative chunk moved the output on and left its `window`.
#[allow(clippy::too_many_arguments)]
fn exact(
    raw: &mut RawInflate,
    window: &mut Option<Vec<u8>>,
    input: &mut Input,
    bit: u64,
    goal: Goal,
    block: &mut Vec<u8>,
    pool: &Pool,
    sink: &mut Sink,
) -> Result<Result<Reached, Fault>, HungUp> {
    if let Some(window) = window.take() {
        *raw = match restart(input, bit, &window) {
            Ok(raw) => raw,
            Err(fault) => return Ok(Err(fault)),
        };
    }
    inflate_to(raw, input, goal, block, pool, sink)
}

/// An exact inflater at `bit`, with the `window` before it.
fn restart(input: &mut Input, bit: u64, window: &[u8]) -> Result<RawInflate, Fault> {
    let first = match input.byte(bit / 8) {
        Ok(Some(byte)) => byte,
        Ok(None) => return Err(Fault::Truncated),
        Err(err) => return Err(Fault::Io(err)),
    };
    RawInflate::at(bit, first, window).map_err(|message| Fault::Corrupt(bit / 8, message))
}

/// Use the speculative chunk behind `rx` if it starts where the exact output has reached
/// (`bit`): inflate its prefix with the real window, then pass on its output. `None` if it
/// cannot be used and nothing of it was passed on; an error only for a fault in the exact
/// inflate.
#[allow(clippy::too_many_arguments)]
fn take_speculative(
    rx: &Receiver<Message>,
    chunk_end: u64,
    input: &mut Input,
    bit: u64,
    window: &mut Option<Vec<u8>>,
    raw: &mut RawInflate,
    block: &mut Vec<u8>,
    pool: &Pool,
    sink: &mut Sink,
) -> Result<Option<Result<Reached, Fault>>, HungUp> {
    let Ok(Message::Start { bit: start, kind, prefix }) = rx.recv() else { return Ok(None) };
    if !same_start(input, bit, start, kind) {
        return Ok(None);
    }
    let known = match window.take() {
        Some(window) => window,
        None => raw.window(),
    };
    let mut exact = match restart(input, start, &known) {
        Ok(exact) => exact,
        Err(fault) => return Ok(Some(Err(fault))),
    };
    match inflate_to(&mut exact, input, Goal { bit: u64::MAX, output: prefix }, block, pool, sink)? {
        Ok(_) => {}
        Err(fault) => return Ok(Some(Err(fault))),
    }
    // From here the chunk's own output is exact; if it stops short, inflate the rest here.
    let mut passed = 0u64;
    loop {
        match rx.recv() {
            Ok(Message::Data(data, offset)) => {
                passed += data.len() as u64;
                pass(block, data, offset, pool, sink)?;
            }
            Ok(Message::End { reached, window: end_window }) => {
                *window = Some(end_window);
                return Ok(Some(Ok(reached)));
            }
            Ok(Message::Start { .. }) | Err(_) => break,
        }
    }
    // The chunk failed part way (corrupt data, most likely): inflate it exactly, skipping what
    // was passed on, so the fault (or the rest) comes from the exact inflate.
    let goal = Goal { bit: u64::MAX, output: passed };
    let mut discard = Vec::with_capacity(BLOCK);
    match inflate_to(&mut exact, input, goal, &mut discard, pool, &mut |_, _| Ok(()))? {
        Ok(_) => {}
        Err(fault) => return Ok(Some(Err(fault))),
    }
    let reached = inflate_to(&mut exact, input, Goal { bit: chunk_end, output: u64::MAX }, block, pool, sink)?;
    *raw = exact;
    Ok(Some(reached))
}

/// Append `data` to the output: after what `block` holds, which is sent first if `data` would
/// not fit beside it.
fn pass(block: &mut Vec<u8>, data: Vec<u8>, offset: u64, pool: &Pool, sink: &mut Sink) -> Result<(), HungUp> {
    if block.is_empty() {
        return sink(data, offset);
    }
    if block.capacity() - block.len() >= data.len() {
        block.extend_from_slice(&data);
        pool.give(data);
        return Ok(());
    }
    let full = std::mem::replace(block, pool.take());
    sink(full, offset)?;
    sink(data, offset)
}

/// Whether a speculative chunk that starts at `start` with a `kind` block starts where the exact
/// output stopped (`bit`). A stored block's header bits may sit anywhere in the byte before its
/// length; any of those positions inflates the same, if the real header is a stored one.
fn same_start(input: &mut Input, bit: u64, start: u64, kind: Kind) -> bool {
    match kind {
        Kind::Dynamic => start == bit,
        Kind::Stored => {
            start / 8 == bit / 8
                && start % 8 <= 5
                && bit % 8 <= 5
                && input.at(bit / 8).is_ok_and(|bytes| boundary::block_at(bytes, bit % 8) == Some(Kind::Stored))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// bf16-like weights: a random mantissa byte beside an exponent byte from a narrow range.
    fn weights(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if i % 2 == 0 {
                    state as u8
                } else {
                    0x3c + (state % 3) as u8
                }
            })
            .collect()
    }

    #[test]
    fn most_chunks_are_inflated_speculatively_and_exactly() {
        let data = weights(8_000_000);
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        encoder.write_all(&data).expect("deflate");
        let compressed = encoder.finish().expect("deflate");
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&compressed).expect("write");
        // Chunks a tenth of the real ones, so the prefix inflated twice is a larger share.
        let plan = Plan { chunk: 400 << 10, threads: 2 };
        let mut out = Vec::new();
        let mut sink = |block: Vec<u8>, _| {
            out.extend_from_slice(&block);
            Ok(())
        };
        let result = inflate_member(Arc::new(file), compressed.len() as u64, 0, plan, Arc::new(Pool::default()), &mut sink);
        let inflated = match result {
            Ok(Ok(inflated)) => inflated,
            Ok(Err(Fault::Corrupt(at, message))) => panic!("corrupt at {at}: {message}"),
            Ok(Err(Fault::Truncated)) => panic!("truncated after {} bytes", out.len()),
            _ => panic!("failed"),
        };
        assert!(out == data, "{} of {} bytes", out.len(), data.len());
        assert_eq!(inflated.end, compressed.len() as u64);
        let chunks = compressed.len() as u64 / plan.chunk;
        assert!(inflated.speculative * 4 > chunks * 3, "{} of {chunks} chunks speculative", inflated.speculative);
    }
}
