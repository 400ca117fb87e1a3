//! A raw deflate inflater over zlib-rs's C API, for the three things the parallel inflate needs
//! and the Rust API lacks: starting at any bit of a stream (`inflatePrime`), with a window
//! given (`inflateSetDictionary`), and stopping at block boundaries (`Z_BLOCK`) with the bit
//! it stopped at. The same zlib-rs as every other inflate in optml, runtime detection included.

use libz_rs_sys as z;

/// The deflate window: the most a back-reference can reach.
pub const WINDOW: usize = 32 << 10;

/// What one call to [`RawInflate::inflate`] ended at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The output is full, or the input ran out, inside a block.
    Inside,
    /// Between two blocks; [`RawInflate::bit`] is where the next block's header starts.
    Boundary,
    /// After the final block: the deflate stream is complete.
    End,
}

pub struct RawInflate {
    // Boxed: zlib-rs's state points back at its stream, which must not move.
    stream: Box<z::z_stream>,
    /// Absolute byte offset of the next input byte to feed.
    fed: u64,
}

// SAFETY: the stream and its state are owned by this value alone; zlib-rs keeps no
// thread-local or shared state in them.
unsafe impl Send for RawInflate {}

impl RawInflate {
    /// An inflater that starts at bit `bit` of the compressed input (bit 0 is the lowest of
    /// byte 0), where `first` is the byte holding that bit, with `window` as the 32 KiB that
    /// precede the output (empty at the start of a stream).
    pub fn at(bit: u64, first: u8, window: &[u8]) -> Result<RawInflate, String> {
        let mut stream = Box::<z::z_stream>::default();
        let size = std::mem::size_of::<z::z_stream>() as i32;
        // SAFETY: the stream is default-initialised (allocator set) and boxed; the version
        // string is zlib-rs's own.
        let init = unsafe { z::inflateInit2_(&mut *stream, -15, z::zlibVersion(), size) };
        if init != z::Z_OK {
            return Err(format!("zlib-rs refused to start an inflate ({init})"));
        }
        let mut raw = RawInflate { stream, fed: bit / 8 + 1 };
        let skip = (bit % 8) as i32;
        // SAFETY: the stream was initialised above; priming comes before the first inflate.
        let primed = unsafe { z::inflatePrime(&mut *raw.stream, 8 - skip, i32::from(first >> skip)) };
        if primed != z::Z_OK {
            return Err(format!("zlib-rs refused to start at bit {bit} ({primed})"));
        }
        if !window.is_empty() {
            let window = &window[window.len().saturating_sub(WINDOW)..];
            // SAFETY: `window` is valid for its length, which is at most 32 KiB.
            let set = unsafe { z::inflateSetDictionary(&mut *raw.stream, window.as_ptr(), window.len() as u32) };
            if set != z::Z_OK {
                return Err(format!("zlib-rs refused the window ({set})"));
            }
        }
        Ok(raw)
    }

    /// Inflate from `input` (the bytes from [`Self::next_byte`] on) into the spare capacity of
    /// `output`, up to `limit` bytes of output, stopping at the next block boundary. Returns
    /// the input bytes consumed and where it stopped; the output grows by what was inflated.
    pub fn inflate(&mut self, input: &[u8], output: &mut Vec<u8>, limit: usize) -> Result<(usize, Stop), String> {
        let spare = output.spare_capacity_mut();
        let room = spare.len().min(limit).min(u32::MAX as usize);
        let stream = &mut *self.stream;
        stream.next_in = input.as_ptr();
        stream.avail_in = input.len().min(u32::MAX as usize) as u32;
        stream.next_out = spare.as_mut_ptr().cast();
        stream.avail_out = room as u32;
        // SAFETY: next_in/avail_in and next_out/avail_out describe live buffers of those sizes.
        let code = unsafe { z::inflate(stream, z::Z_BLOCK) };
        let consumed = input.len().min(u32::MAX as usize) - stream.avail_in as usize;
        let produced = room - stream.avail_out as usize;
        // SAFETY: zlib-rs wrote `produced` bytes into the spare capacity.
        unsafe { output.set_len(output.len() + produced) };
        self.fed += consumed as u64;
        stream.next_in = std::ptr::null();
        stream.avail_in = 0;
        match code {
            // Z_BLOCK stops after the final block's end-of-block code too, at a "boundary" with
            // the last-block flag (64) set; no more input is needed from there.
            z::Z_STREAM_END => Ok((consumed, Stop::End)),
            z::Z_OK | z::Z_BUF_ERROR if stream.data_type & (128 | 64) == 128 | 64 => Ok((consumed, Stop::End)),
            z::Z_OK | z::Z_BUF_ERROR if stream.data_type & 128 != 0 => Ok((consumed, Stop::Boundary)),
            z::Z_OK | z::Z_BUF_ERROR => Ok((consumed, Stop::Inside)),
            _ => Err(self.message(code)),
        }
    }

    fn message(&self, code: i32) -> String {
        if self.stream.msg.is_null() {
            format!("zlib error {code}")
        } else {
            // SAFETY: zlib-rs's messages are static NUL-terminated strings.
            unsafe { std::ffi::CStr::from_ptr(self.stream.msg) }.to_string_lossy().into_owned()
        }
    }

    /// The absolute offset of the next input byte [`Self::inflate`] wants.
    pub fn next_byte(&self) -> u64 {
        self.fed
    }

    /// The absolute bit the inflater has read up to: at a [`Stop::Boundary`], the first bit of
    /// the next block's header.
    pub fn bit(&self) -> u64 {
        self.fed * 8 - (self.stream.data_type & 63) as u64
    }

    /// The last 32 KiB (or fewer, near the start) of the output so far.
    pub fn window(&self) -> Vec<u8> {
        let mut window = vec![0u8; WINDOW];
        let mut len = 0u32;
        // SAFETY: the buffer holds 32 KiB, the most zlib-rs copies.
        unsafe { z::inflateGetDictionary(&*self.stream, window.as_mut_ptr(), &mut len) };
        window.truncate(len as usize);
        window
    }
}

impl Drop for RawInflate {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised in `at` and is ended once.
        unsafe { z::inflateEnd(&mut *self.stream) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("deflate");
        encoder.finish().expect("deflate")
    }

    /// Inflate `compressed` from `bit` with `window`, block by block: the output and the
    /// boundaries passed.
    fn run(compressed: &[u8], bit: u64, window: &[u8]) -> (Vec<u8>, Vec<u64>) {
        let mut raw = RawInflate::at(bit, compressed[(bit / 8) as usize], window).expect("start");
        let mut output = Vec::with_capacity(1 << 16);
        let mut boundaries = Vec::new();
        loop {
            if output.capacity() - output.len() < 1 << 15 {
                output.reserve(1 << 16);
            }
            let at = raw.next_byte() as usize;
            let (_, stop) = raw.inflate(&compressed[at.min(compressed.len())..], &mut output, usize::MAX).expect("inflate");
            match stop {
                Stop::Boundary => boundaries.push(raw.bit()),
                Stop::End => return (output, boundaries),
                Stop::Inside => {}
            }
        }
    }

    #[test]
    fn restarting_at_a_boundary_with_its_window_gives_the_rest() {
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 27) as u8 ^ (i / 1000) as u8).collect();
        let compressed = deflate(&data);
        let (whole, boundaries) = run(&compressed, 0, &[]);
        assert!(whole == data);
        assert!(boundaries.len() > 3, "{boundaries:?}");
        // Restart at a boundary in the middle: the output from there, given the window.
        let middle = boundaries[boundaries.len() / 2];
        let (mut head, _) = (Vec::new(), ());
        let mut raw = RawInflate::at(0, compressed[0], &[]).expect("start");
        head.reserve(data.len());
        while raw.bit() != middle {
            let at = raw.next_byte() as usize;
            raw.inflate(&compressed[at..], &mut head, usize::MAX).expect("inflate");
        }
        let window = raw.window();
        assert_eq!(window.len(), WINDOW);
        assert!(window[..] == head[head.len() - WINDOW..]);
        let (tail, _) = run(&compressed, middle, &window);
        assert!(head.len() + tail.len() == data.len() && tail[..] == data[head.len()..]);
    }
}
