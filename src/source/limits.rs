//! How much work one input may cause. optml reads untrusted archives in CI: a 394-byte tar.gz
//! can name a path of 100,000 components, a few kilobytes of gzip can inflate to terabytes, and
//! two million copies of one header fit in a small file. Each limit stops reading (or drops the
//! one name) and becomes a finding that names the limit and how to raise it, so time and memory
//! follow the input's real size, not an attacker's choice. docs/security.md lists them.

/// Inflated bytes read before the compression ratio is judged: a small archive of zeros is not a bomb.
pub const RATIO_FLOOR: u64 = 16 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Members of one archive or entries of one tree (`--max-entries`).
    pub entries: u64,
    /// Bytes an archive may inflate to (`--max-bytes`).
    pub bytes: u64,
    /// Inflated bytes per compressed byte, once past [`RATIO_FLOOR`] (`--max-ratio`).
    pub ratio: u64,
    /// Bytes of one member name (`--max-path-bytes`).
    pub path_bytes: u64,
    /// Components of one member name (`--max-path-depth`).
    pub path_depth: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            entries: 1_000_000,
            // The largest model archives (a 70B-parameter model in fp16) are ~140 GB.
            bytes: 256 * 1024 * 1024 * 1024,
            // Deflate cannot exceed ~1032:1; real model files stay far below 100:1.
            ratio: 200,
            // PATH_MAX on Linux, and far deeper than any real layout.
            path_bytes: 4096,
            path_depth: 1024,
        }
    }
}

/// Which limit was reached, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Entries,
    Bytes,
    Ratio,
}

impl Limits {
    /// Why a member name is too long to be worth the work, if it is.
    pub fn name_problem(&self, name: &[u8]) -> Option<String> {
        if name.len() as u64 > self.path_bytes {
            return Some(format!(
                "a member name of {} bytes is longer than --max-path-bytes {} (max-path-bytes in the config): reported, not read",
                name.len(),
                self.path_bytes
            ));
        }
        // Counting stops at the cap: a name of 100,000 components costs no more than one of 1,025.
        let depth = name.split(|&b| b == b'/').filter(|c| !c.is_empty()).take(self.path_depth as usize + 1).count() as u64;
        (depth > self.path_depth).then(|| {
            format!(
                "a member name of more than {} components is deeper than --max-path-depth (max-path-depth in the config): reported, not read",
                self.path_depth
            )
        })
    }

    /// The message of a limit reached: what stopped, and how to raise it.
    pub fn reached(&self, limit: Limit) -> String {
        match limit {
            Limit::Entries => format!("stopped reading after {} entries: raise --max-entries (max-entries in the config) to read on", self.entries),
            Limit::Bytes => format!("stopped reading at {} inflated bytes: raise --max-bytes (max-bytes in the config) to read on", self.bytes),
            Limit::Ratio => format!(
                "stopped reading: the archive inflates more than {}:1 (a compression bomb?): raise --max-ratio (max-ratio in the config) to read on",
                self.ratio
            ),
        }
    }

    /// Whether `inflated` bytes from `compressed` ones exceed the byte or ratio limit.
    pub fn inflation(&self, inflated: u64, compressed: u64) -> Option<Limit> {
        if inflated > self.bytes {
            Some(Limit::Bytes)
        } else if inflated > RATIO_FLOOR && inflated / compressed.max(1) > self.ratio {
            Some(Limit::Ratio)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_beyond_the_caps() {
        let limits = Limits { path_bytes: 10, path_depth: 3, ..Limits::default() };
        assert_eq!(limits.name_problem(b"a/b/c"), None);
        assert!(limits.name_problem(b"a/b/c/d").unwrap().contains("more than 3 components"));
        assert!(limits.name_problem(b"abcdefghijk").unwrap().contains("11 bytes"));
    }

    #[test]
    fn inflation_beyond_the_caps() {
        let limits = Limits { bytes: RATIO_FLOOR * 10, ratio: 100, ..Limits::default() };
        assert_eq!(limits.inflation(RATIO_FLOOR, 1), None, "below the floor the ratio does not count");
        assert_eq!(limits.inflation(RATIO_FLOOR + 1, 1), Some(Limit::Ratio));
        assert_eq!(limits.inflation(RATIO_FLOOR * 2, RATIO_FLOOR), None);
        assert_eq!(limits.inflation(RATIO_FLOOR * 11, RATIO_FLOOR), Some(Limit::Bytes));
    }
}
