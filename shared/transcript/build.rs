//! Writes `o200k_base`'s vocabulary as a compact table for `tokens.rs`: for each rank from 0,
//! one length byte and the token's bytes. tiktoken-rs embeds the same vocabulary as base64
//! text (3.6 MB, 1.7 MB zipped, decoded at every start); the table is 1.6 MB (1.05 MB zipped)
//! and needs no decoding. It is read from tiktoken-rs itself, so the two cannot drift; the
//! tests compare every token with tiktoken-rs's.
use std::io::Write;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let bpe = tiktoken_rs::o200k_base().expect("tiktoken-rs's o200k_base loads");
    let mut table = Vec::with_capacity(1 << 21);
    // The ordinary tokens are ranks 0..n; the first rank that decodes to nothing ends them
    // (o200k_base: 199,998 tokens; its special tokens sit above, from 199,999).
    for rank in 0u32.. {
        let Ok(bytes) = bpe.decode_bytes(&[rank]) else {
            break;
        };
        if bpe
            .special_tokens()
            .contains(String::from_utf8_lossy(&bytes).as_ref())
        {
            break;
        }
        let len = u8::try_from(bytes.len()).expect("o200k_base tokens are at most 255 bytes");
        table.push(len);
        table.extend_from_slice(&bytes);
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::File::create(out.join("o200k_base.bin"))
        .and_then(|mut f| f.write_all(&table))
        .expect("writing the o200k_base table");
}
