//! A plain file read ahead on its own thread. Copying a plain tar out of the page cache was a
//! quarter of checking a many-small-file one, on the thread that also parses the headers; here
//! the copy runs beside the parsing, as inflating does for gzip. Member data the reader skips
//! by more than [`SEEK_PAST`] is never read: the thread jumps to where the reader wants to be,
//! as a seek would, so a large weights tar still costs a few reads per member.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::gzip::{Pool, BLOCK, QUEUE};
use super::members::Stream;

/// A skip this far past what the thread has read is a jump; a shorter one is read through
/// (cheaper than a syscall, and it keeps the kernel's own read-ahead going).
const SEEK_PAST: u64 = 1 << 20;

/// A block of the file and its offset.
type Block = (u64, Vec<u8>);

pub struct ReadAhead {
    blocks: Receiver<Block>,
    pool: Arc<Pool>,
    current: Vec<u8>,
    /// The file offset of `current`'s first byte.
    start: u64,
    /// The file offset of the next byte the reader wants.
    at: u64,
    /// `at`, for the thread, once a skip leaves `current`.
    wanted: Arc<AtomicU64>,
    len: u64,
    worker: Option<JoinHandle<io::Result<()>>>,
}

impl ReadAhead {
    /// Read `file`, whose length is `len`, from its start.
    pub fn spawn(file: File, len: u64) -> ReadAhead {
        let (block_tx, blocks) = sync_channel(QUEUE);
        let pool = Arc::new(Pool::default());
        let wanted = Arc::new(AtomicU64::new(0));
        let (worker_pool, worker_wanted) = (pool.clone(), wanted.clone());
        let worker = std::thread::spawn(move || {
            let mut offset = 0u64;
            loop {
                let wanted = worker_wanted.load(Ordering::Acquire);
                if wanted > offset.saturating_add(SEEK_PAST) {
                    offset = wanted;
                }
                let mut block = worker_pool.take();
                block.resize(BLOCK, 0);
                let filled = fill_at(&file, &mut block, offset)?;
                if filled == 0 {
                    return Ok(());
                }
                block.truncate(filled);
                if block_tx.send((offset, block)).is_err() {
                    return Ok(());
                }
                offset += filled as u64;
            }
        });
        ReadAhead { blocks, pool, current: Vec::new(), start: 0, at: 0, wanted, len, worker: Some(worker) }
    }

    fn end(&self) -> u64 {
        self.start + self.current.len() as u64
    }

    /// How the thread ended, once the blocks stop: a read error, or the end of the file.
    fn finished(&mut self) -> io::Result<()> {
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(ended)) => ended,
            Some(Err(_)) => Err(io::Error::other("the reading thread failed")),
            None => Ok(()),
        }
    }
}

/// Read into all of `block` from `offset`, short only at the end of the file.
fn fill_at(file: &File, block: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < block.len() {
        match file.read_at(&mut block[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

impl Stream for ReadAhead {
    fn fill(&mut self) -> io::Result<&[u8]> {
        while self.at >= self.end() {
            match self.blocks.recv() {
                Ok((start, block)) => {
                    let used = std::mem::replace(&mut self.current, block);
                    self.pool.give(used);
                    self.start = start;
                    if self.at < self.start {
                        // The thread jumped past where the reader is: only after a skip that
                        // said so, and only to where it said.
                        return Err(io::Error::other("the reading thread jumped too far"));
                    }
                }
                Err(_) => {
                    self.finished()?;
                    return Ok(&[]);
                }
            }
        }
        Ok(&self.current[(self.at - self.start) as usize..])
    }

    fn consume(&mut self, n: usize) {
        self.at += n as u64;
    }

    fn skip(&mut self, n: u64) -> io::Result<u64> {
        // Skipping past the end is not an error: clamp to the length so a short file reads short.
        let step = n.min(self.len.saturating_sub(self.at));
        self.at += step;
        if self.at > self.end() {
            self.wanted.store(self.at, Ordering::Release);
        }
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Reads and skips of every size land on the bytes a seek would, whether the thread reads
    /// through a skip or jumps it.
    #[test]
    fn reads_and_skips_land_where_a_seek_would() {
        let data: Vec<u8> = (0..(3 * SEEK_PAST as usize + 12345)).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let mut stream = ReadAhead::spawn(file, data.len() as u64);
        let mut at = 0usize;
        for (round, skip) in [0u64, 1, 511, BLOCK as u64, 2 * SEEK_PAST, 3, SEEK_PAST + 1].into_iter().cycle().take(40).enumerate() {
            let skipped = stream.skip(skip).unwrap();
            assert_eq!(skipped, skip.min((data.len() - at) as u64));
            at += skipped as usize;
            let available = stream.fill().unwrap();
            let take = available.len().min(round % 700 + 1);
            assert_eq!(&available[..take], &data[at..at + take], "round {round}");
            stream.consume(take);
            at += take;
        }
        stream.skip(u64::MAX).unwrap();
        assert!(stream.fill().unwrap().is_empty(), "nothing past the end");
    }
}
