//! Finding where a deflate block may start, in the middle of a stream, without inflating what
//! comes before: the first step of the speculative parallel inflate (the technique of
//! rapidgzip, Knespel and Brunst 2023). A candidate is a bit position whose next bits read as a
//! non-final block header that zlib would accept: a stored block whose length is followed by
//! its complement, or a dynamic block whose three Huffman codes are all well formed. Fixed
//! blocks are not looked for (they are rare in large streams and match almost anywhere); a
//! missed or false candidate costs time, never correctness, because a speculative result is
//! used only where the inflate before it ended exactly at its start.

/// Bits of `bytes`, read as deflate reads them: from the lowest bit of each byte up.
struct Bits<'a> {
    bytes: &'a [u8],
    at: u64,
}

impl Bits<'_> {
    /// The next `n` (at most 25) bits, or `None` past the end.
    fn take(&mut self, n: u32) -> Option<u32> {
        let value = self.peek(n)?;
        self.at += u64::from(n);
        Some(value)
    }

    fn peek(&self, n: u32) -> Option<u32> {
        let (byte, shift) = ((self.at / 8) as usize, (self.at % 8) as u32);
        if (self.bytes.len() as u64) * 8 < self.at + u64::from(n) {
            return None;
        }
        let mut word = [0u8; 4];
        let available = &self.bytes[byte..self.bytes.len().min(byte + 4)];
        word[..available.len()].copy_from_slice(available);
        Some((u32::from_le_bytes(word) >> shift) & ((1u32 << n) - 1))
    }
}

/// What kind of block a candidate starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stored,
    Dynamic,
}

/// The order the code-length code's lengths are stored in (RFC 1951, 3.2.7).
const ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Whether the bits at `bit` of `bytes` start a non-final block zlib would accept the header
/// of, and which kind.
pub fn block_at(bytes: &[u8], bit: u64) -> Option<Kind> {
    let mut bits = Bits { bytes, at: bit };
    if bits.take(1)? != 0 {
        return None;
    }
    match bits.take(2)? {
        0 => stored_header(&mut bits).then_some(Kind::Stored),
        2 => dynamic_header(&mut bits).then_some(Kind::Dynamic),
        _ => None,
    }
}

/// The rest of a stored block's header: zero padding to the byte, then LEN and its complement.
fn stored_header(bits: &mut Bits) -> bool {
    let pad = ((8 - bits.at % 8) % 8) as u32;
    if bits.take(pad) != Some(0) {
        return false;
    }
    let at = (bits.at / 8) as usize;
    match bits.bytes.get(at..at + 4) {
        Some(len) => len[0] == !len[2] && len[1] == !len[3],
        None => false,
    }
}

/// The rest of a dynamic block's header: the counts, then the code-length code, then the
/// literal/length and distance code lengths it encodes, each a code zlib accepts.
fn dynamic_header(bits: &mut Bits) -> bool {
    let (Some(hlit), Some(hdist), Some(hclen)) = (bits.take(5), bits.take(5), bits.take(4)) else { return false };
    let (literals, distances) = (hlit as usize + 257, hdist as usize + 1);
    if literals > 286 || distances > 30 {
        return false;
    }
    let mut code_lengths = [0u8; 19];
    for &symbol in &ORDER[..hclen as usize + 4] {
        match bits.take(3) {
            Some(length) => code_lengths[symbol] = length as u8,
            None => return false,
        }
    }
    // The code-length code must be complete: zlib accepts no other.
    if kraft(&code_lengths) != Some(0) {
        return false;
    }
    let table = decode_table(&code_lengths);
    let mut lengths = [0u8; 286 + 30];
    let total = literals + distances;
    let mut filled = 0;
    while filled < total {
        let Some(peek) = peek7(bits) else { return false };
        let (symbol, length) = table[peek as usize];
        bits.at += u64::from(length);
        let (value, repeat) = match symbol {
            0..=15 => (symbol, 1),
            16 if filled > 0 => match bits.take(2) {
                Some(extra) => (lengths[filled - 1], 3 + extra as usize),
                None => return false,
            },
            17 => match bits.take(3) {
                Some(extra) => (0, 3 + extra as usize),
                None => return false,
            },
            18 => match bits.take(7) {
                Some(extra) => (0, 11 + extra as usize),
                None => return false,
            },
            _ => return false,
        };
        if filled + repeat > total {
            return false;
        }
        lengths[filled..filled + repeat].fill(value);
        filled += repeat;
    }
    let (literal_lengths, distance_lengths) = lengths[..total].split_at(literals);
    literal_lengths[256] != 0 && acceptable(literal_lengths) && acceptable(distance_lengths)
}

/// The next 7 bits without taking them, or as many as are left (a code that does not fit
/// then fails on the bits it takes next).
fn peek7(bits: &Bits) -> Option<u32> {
    let available = (bits.bytes.len() as u64 * 8).checked_sub(bits.at)?;
    if available == 0 {
        return None;
    }
    bits.peek(7.min(available) as u32)
}

/// How much of the code space the lengths leave unused (0: complete), or `None` if they
/// over-subscribe it.
fn kraft(lengths: &[u8]) -> Option<i64> {
    let mut counts = [0i64; 16];
    for &length in lengths {
        counts[length as usize] += 1;
    }
    let mut left = 1i64;
    for count in &counts[1..] {
        left = (left << 1) - count;
        if left < 0 {
            return None;
        }
    }
    Some(left)
}

/// What zlib's `inflate_table` accepts for a literal/length or distance code: complete, or a
/// single code of length 1, or (distances only, but harmless to allow) no codes at all.
fn acceptable(lengths: &[u8]) -> bool {
    match kraft(lengths) {
        Some(0) => true,
        Some(_) => lengths.iter().all(|&length| length <= 1),
        None => false,
    }
}

/// A 7-bit lookup table for the code-length code: for each 7 bits as read, the symbol and
/// its code length (0 where no code matches, which `dynamic_header` never reaches for a
/// complete code).
fn decode_table(lengths: &[u8; 19]) -> [(u8, u8); 128] {
    let mut table = [(255u8, 7u8); 128];
    let mut code = 0u32;
    for length in 1..=7u8 {
        for (symbol, _) in lengths.iter().enumerate().filter(|(_, &l)| l == length) {
            // Huffman codes are sent from their top bit: reverse to index by bits as read.
            let reversed = code.reverse_bits() >> (32 - u32::from(length));
            let mut index = reversed as usize;
            while index < 128 {
                table[index] = (symbol as u8, length);
                index += 1 << length;
            }
            code += 1;
        }
        code <<= 1;
    }
    table
}

/// Whether the 121 bits in `bits` (from a candidate's first) could start a block: a cheap
/// test that rejects nearly every position before [`block_at`] reads it properly. A stored
/// header passes; a dynamic one needs its counts in range and a complete code-length code
/// (whose 3-bit lengths, at most 19, fit in these bits: 17 + 57).
fn may_start(bits: u128) -> bool {
    match bits & 7 {
        // BFINAL 0, BTYPE 00: stored.
        0 => true,
        // BFINAL 0, BTYPE 10: dynamic.
        4 => {
            let (hlit, hdist, hclen) = ((bits >> 3) & 31, (bits >> 8) & 31, ((bits >> 13) & 15) as u32 + 4);
            // Complete: the code space, in units of 2^-7, is exactly filled.
            let space: u32 = (0..hclen).map(|i| ((bits >> (17 + 3 * i)) & 7) as u32).filter(|&length| length > 0).map(|length| 128 >> length).sum();
            hlit <= 29 && hdist <= 29 && space == 128
        }
        _ => false,
    }
}

/// The first bit at or after `from` where a candidate block starts, searching `bytes` (which
/// begin at byte `base` of the stream) no further than `until` (a bit, exclusive).
pub fn find(bytes: &[u8], base: u64, from: u64, until: u64) -> Option<(u64, Kind)> {
    let end = until.min((base + bytes.len() as u64) * 8);
    let mut bit = from.max(base * 8);
    while bit < end {
        let at = (bit - base * 8) as usize;
        // 16 bytes hold the 121 bits `may_start` reads at any of a byte's 8 positions.
        if let Some(word) = bytes.get(at / 8..at / 8 + 16) {
            let word = u128::from_le_bytes(word.try_into().expect("16 bytes"));
            for shift in (at % 8) as u32..8 {
                let candidate = bit + u64::from(shift) - (at % 8) as u64;
                if candidate >= end {
                    return None;
                }
                if may_start(word >> shift) {
                    if let Some(kind) = block_at(bytes, candidate - base * 8) {
                        return Some((candidate, kind));
                    }
                }
            }
            bit += 8 - (at % 8) as u64;
        } else {
            if let Some(kind) = block_at(bytes, at as u64) {
                return Some((bit, kind));
            }
            bit += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::gzip::raw::{RawInflate, Stop};
    use std::io::Write;

    fn deflate(data: &[u8], level: u32) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        encoder.write_all(data).expect("deflate");
        encoder.finish().expect("deflate")
    }

    fn boundaries(compressed: &[u8]) -> Vec<u64> {
        let mut raw = RawInflate::at(0, compressed[0], &[]).expect("start");
        let mut output = Vec::with_capacity(1 << 20);
        let mut found = vec![0];
        loop {
            output.clear();
            let at = raw.next_byte() as usize;
            match raw.inflate(&compressed[at.min(compressed.len())..], &mut output, usize::MAX).expect("inflate").1 {
                Stop::Boundary => found.push(raw.bit()),
                Stop::End => return found,
                Stop::Inside => {}
            }
        }
    }

    #[test]
    fn every_real_boundary_is_a_candidate_and_few_others_are() {
        let mut state = 7u64;
        let mut data = Vec::new();
        for i in 0..1_200_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Text-like, random and repetitive stretches: dynamic and stored blocks both.
            data.push(match (i / 200_000) % 3 {
                0 => b"the quick brown fox "[(state % 20) as usize],
                1 => state as u8,
                _ => (i % 7) as u8,
            });
        }
        // zlib-rs's level 1 writes fixed-Huffman blocks only.
        for level in [2, 6, 9] {
            let compressed = deflate(&data, level);
            let real = boundaries(&compressed);
            // The last two are the start of the final block, which `find` does not look for,
            // and the end of the stream.
            let mut looked_for = 0;
            for &bit in &real[..real.len() - 2] {
                let btype = (u32::from_le_bytes(compressed[(bit / 8) as usize..][..4].try_into().expect("4 bytes")) >> (bit % 8 + 1)) & 3;
                if btype != 1 {
                    assert!(block_at(&compressed, bit).is_some(), "level {level}: the block at bit {bit} is not a candidate");
                    looked_for += 1;
                }
            }
            assert!(looked_for * 2 > real.len(), "level {level}: {looked_for} of {} blocks looked for", real.len());
            let false_ones = (0..compressed.len() as u64 * 8).filter(|bit| !real.contains(bit) && block_at(&compressed, *bit).is_some()).count();
            // `find` finds the same first candidate as `block_at` from any bit.
            for from in (0..compressed.len() as u64 * 8).step_by(99_991) {
                let slow = (from..compressed.len() as u64 * 8).find_map(|bit| block_at(&compressed, bit).map(|kind| (bit, kind)));
                assert_eq!(find(&compressed, 0, from, u64::MAX), slow, "level {level}, from bit {from}");
            }
            // Most of them in the stored stretches of random bytes; each costs one trial inflate.
            let bits = compressed.len() * 8;
            assert!(false_ones * 20_000 < bits, "level {level}: {false_ones} false candidates in {bits} bits");
        }
    }
}
