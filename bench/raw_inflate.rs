//! The inflate floor for bench/run.sh: gunzip a file with zlib-rs through flate2 (the same
//! backend and features optml is built with, runtime CPU detection included) on one thread,
//! into a 1 MiB buffer that is thrown away. Prints the inflated byte count.
//! `cargo build --release --example raw_inflate && target/release/examples/raw_inflate FILE`

use std::io::{BufReader, Read};

fn main() -> std::io::Result<()> {
    let path = std::env::args_os().nth(1).expect("usage: raw_inflate FILE.gz");
    let file = std::fs::File::open(path)?;
    let mut gz = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, file));
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        match gz.read(&mut buf)? {
            0 => break,
            n => total += n as u64,
        }
    }
    println!("{total}");
    Ok(())
}
