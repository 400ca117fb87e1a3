//! SHA-256 while streaming. Large files are hashed on a helper thread fed through a short
//! queue, so hashing overlaps reading (inflation, for archives) and wall time stays close to
//! reading alone; small files are hashed inline, where a thread would cost more than it saves.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// Files at least this large are hashed on a helper thread.
const THREADED_MIN: u64 = 4 * 1024 * 1024;
/// Chunks in flight between the reader and the hashing thread.
const QUEUE: usize = 4;

pub enum Hasher {
    Inline(Sha256),
    Threaded { chunks: SyncSender<(Vec<u8>, usize)>, spares: Receiver<Vec<u8>>, worker: JoinHandle<[u8; 32]> },
}

impl Hasher {
    /// A hasher for a file of `size` bytes.
    pub fn new(size: u64) -> Hasher {
        if size < THREADED_MIN {
            return Hasher::Inline(Sha256::new());
        }
        let (chunks, queue) = sync_channel::<(Vec<u8>, usize)>(QUEUE);
        let (give_back, spares) = sync_channel::<Vec<u8>>(QUEUE + 1);
        let worker = std::thread::spawn(move || {
            let mut sha = Sha256::new();
            for (chunk, len) in queue {
                sha.update(&chunk[..len]);
                // The reader may have stopped taking spares; a full return queue is fine.
                let _ = give_back.try_send(chunk);
            }
            sha.finalize().into()
        });
        Hasher::Threaded { chunks, spares, worker }
    }

    /// Hash the first `len` bytes of `buf`. A threaded hasher takes the buffer and leaves a
    /// spare of the same length in its place.
    pub fn update(&mut self, buf: &mut Vec<u8>, len: usize) {
        match self {
            Hasher::Inline(sha) => sha.update(&buf[..len]),
            Hasher::Threaded { chunks, spares, .. } => {
                let spare = spares.try_recv().unwrap_or_else(|_| vec![0u8; buf.len()]);
                let full = std::mem::replace(buf, spare);
                // The worker only stops when this sender is dropped, so sending cannot fail.
                let _ = chunks.send((full, len));
            }
        }
    }

    pub fn finish(self) -> [u8; 32] {
        match self {
            Hasher::Inline(sha) => sha.finalize().into(),
            Hasher::Threaded { chunks, worker, .. } => {
                drop(chunks);
                worker.join().expect("the hashing thread does not panic")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threaded_and_inline_agree() {
        let data: Vec<u8> = (0..(THREADED_MIN as usize + 12345)).map(|i| (i % 251) as u8).collect();
        let mut expected = Sha256::new();
        expected.update(&data);
        let expected: [u8; 32] = expected.finalize().into();
        for size in [0, THREADED_MIN] {
            let mut hasher = Hasher::new(size);
            let mut buf = vec![0u8; 64 * 1024];
            for piece in data.chunks(50_000) {
                buf[..piece.len()].copy_from_slice(piece);
                hasher.update(&mut buf, piece.len());
            }
            assert_eq!(hasher.finish(), expected);
        }
    }
}
