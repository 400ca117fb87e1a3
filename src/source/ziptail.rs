//! A look inside a zip-format member without buffering it: while the member streams past, the
//! last [`TAIL_LIMIT`] bytes are kept in a ring; at its end the zip's end-of-central-directory
//! record and the central directory are read from that tail. PyTorch's `torch.jit.save` and
//! `torch.save` (since 1.6) both write zip files whose member names tell them apart
//! (TorchScript has `constants.pkl` and `code/`); an older `torch.save` is a bare pickle.

/// Bytes kept from the end of each member looked at. A central directory of 4 MiB lists tens of
/// thousands of members; the EOCD record is always within the last 64 KiB + 22 bytes.
pub const TAIL_LIMIT: usize = 4 * 1024 * 1024;

/// Listed member names kept per file (the rest are not needed to tell formats apart).
const NAMES_LIMIT: usize = 10_000;

/// What the tail of a file says about it as a zip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZipLook {
    /// No end-of-central-directory record: not a zip (a legacy pickle, raw bytes...).
    NotZip,
    /// The central directory was read: member names, in directory order.
    Members(Vec<Vec<u8>>),
    /// A zip whose listing could not be read from the tail; why.
    Unsure(String),
}

/// The last `limit` bytes written to it.
pub struct Tail {
    ring: Vec<u8>,
    limit: usize,
    /// Total bytes written.
    written: u64,
}

impl Tail {
    pub fn new(limit: usize, expected: u64) -> Tail {
        Tail { ring: Vec::with_capacity((expected.min(limit as u64)) as usize), limit, written: 0 }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let limit = self.limit;
        if bytes.len() >= limit {
            // Only the last `limit` bytes survive; each byte sits at (file offset % limit).
            let last = &bytes[bytes.len() - limit..];
            let at = ((self.written + (bytes.len() - limit) as u64) % limit as u64) as usize;
            self.ring.resize(limit, 0);
            self.ring[at..].copy_from_slice(&last[..limit - at]);
            self.ring[..at].copy_from_slice(&last[limit - at..]);
            self.written += bytes.len() as u64;
            return;
        }
        let mut bytes = bytes;
        while !bytes.is_empty() {
            let at = (self.written % limit as u64) as usize;
            let n = bytes.len().min(limit - at);
            if self.ring.len() < limit {
                // Still filling: the ring is a plain prefix of the file and `at` its end.
                self.ring.extend_from_slice(&bytes[..n]);
            } else {
                self.ring[at..at + n].copy_from_slice(&bytes[..n]);
            }
            self.written += n as u64;
            bytes = &bytes[n..];
        }
    }

    /// The kept bytes in file order, and the file offset of the first of them.
    fn linear(&self) -> (Vec<u8>, u64) {
        if self.written <= self.limit as u64 {
            return (self.ring.clone(), 0);
        }
        let at = (self.written % self.limit as u64) as usize;
        let mut out = Vec::with_capacity(self.limit);
        out.extend_from_slice(&self.ring[at..]);
        out.extend_from_slice(&self.ring[..at]);
        (out, self.written - self.limit as u64)
    }

    /// Read the zip listing from the kept tail.
    pub fn look(&self) -> ZipLook {
        let (tail, start) = self.linear();
        look(&tail, start)
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u64)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

const EOCD: &[u8] = b"PK\x05\x06";
const EOCD64_LOCATOR: &[u8] = b"PK\x06\x07";
const EOCD64: &[u8] = b"PK\x06\x06";
const CENTRAL: &[u8] = b"PK\x01\x02";

/// Read a zip listing from `tail`, the bytes of a file from offset `start` to its end.
pub fn look(tail: &[u8], start: u64) -> ZipLook {
    // The EOCD record (22 bytes + a comment of at most 65535) ends the file.
    let window = tail.len().saturating_sub(22 + 65_535);
    let Some(eocd) = (window..tail.len().saturating_sub(21)).rev().find(|&i| &tail[i..i + 4] == EOCD) else {
        return ZipLook::NotZip;
    };
    let (mut entries, mut cd_size, mut cd_offset) = (u16_at(tail, eocd + 10), u32_at(tail, eocd + 12), u32_at(tail, eocd + 16));
    let zip64 = entries == Some(0xFFFF) || cd_size == Some(0xFFFF_FFFF) || cd_offset == Some(0xFFFF_FFFF);
    if zip64 {
        let Some(locator) = eocd.checked_sub(20).filter(|&l| tail.get(l..l + 4) == Some(EOCD64_LOCATOR)) else {
            return ZipLook::Unsure("a zip64 archive without its locator in the tail".into());
        };
        let Some(record) = u64_at(tail, locator + 8).and_then(|offset| offset.checked_sub(start)).map(|r| r as usize) else {
            return ZipLook::Unsure("the zip64 end record is before the kept tail".into());
        };
        if tail.get(record..record + 4) != Some(EOCD64) {
            return ZipLook::Unsure("the zip64 end record is not where its locator says".into());
        }
        (entries, cd_size, cd_offset) = (u64_at(tail, record + 32), u64_at(tail, record + 40), u64_at(tail, record + 48));
    }
    let (Some(entries), Some(_cd_size), Some(cd_offset)) = (entries, cd_size, cd_offset) else {
        return ZipLook::Unsure("a truncated end-of-central-directory record".into());
    };
    let Some(mut at) = cd_offset.checked_sub(start).map(|a| a as usize) else {
        return ZipLook::Unsure(format!("its central directory starts {} bytes before the {} MiB optml keeps", start - cd_offset, TAIL_LIMIT / (1024 * 1024)));
    };
    let mut names = Vec::new();
    for _ in 0..entries {
        if tail.get(at..at + 4) != Some(CENTRAL) {
            return ZipLook::Unsure("a damaged central directory".into());
        }
        let (Some(name_len), Some(extra_len), Some(comment_len)) = (u16_at(tail, at + 28), u16_at(tail, at + 30), u16_at(tail, at + 32)) else {
            return ZipLook::Unsure("a truncated central directory".into());
        };
        let Some(name) = tail.get(at + 46..at + 46 + name_len as usize) else {
            return ZipLook::Unsure("a truncated central directory".into());
        };
        if names.len() < NAMES_LIMIT {
            names.push(name.to_vec());
        }
        at += 46 + (name_len + extra_len + comment_len) as usize;
    }
    ZipLook::Members(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through_tail(bytes: &[u8], limit: usize, chunk: usize) -> (Vec<u8>, u64) {
        let mut tail = Tail::new(limit, bytes.len() as u64);
        for part in bytes.chunks(chunk) {
            tail.push(part);
        }
        tail.linear()
    }

    #[test]
    fn the_ring_keeps_the_last_bytes_in_order() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for chunk in [1, 7, 333, 4096, 100_000] {
            assert_eq!(through_tail(&bytes, 4096, chunk), (bytes[5000 - 4096..].to_vec(), 5000 - 4096), "chunks of {chunk}");
        }
        assert_eq!(through_tail(&bytes[..100], 4096, 9), (bytes[..100].to_vec(), 0));
    }

    #[test]
    fn reads_an_empty_listing_and_tells_a_pickle_from_a_zip() {
        let mut empty = b"PK\x05\x06".to_vec();
        empty.extend_from_slice(&[0; 18]);
        assert_eq!(look(&empty, 0), ZipLook::Members(Vec::new()));
        assert_eq!(look(b"\x80\x02}q\x00(X\x05\x00\x00\x00layerq\x01.", 0), ZipLook::NotZip);
        // A central directory that starts before the kept tail.
        let mut far = b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0".to_vec();
        far.extend_from_slice(&10u32.to_le_bytes());
        far.extend_from_slice(&[0, 0]);
        assert!(matches!(look(&far, 1000), ZipLook::Unsure(_)));
    }
}
