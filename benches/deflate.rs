//! The compression crate choice, measured on switchyard's own frames: `libdeflater`
//! (libdeflate, whole-message) against `flate2` on the zlib-rs backend (streaming), each
//! compressing one message as permessage-deflate does with `server_no_context_takeover`
//! (a fresh raw DEFLATE stream per message), at levels 1 and 6; plus inflating.
//!
//! `cargo bench --bench deflate`. Prints the compressed sizes once, then criterion's times.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// A chat message as the example handler sends it (about 190 bytes).
fn chat() -> Vec<u8> {
    br#"{"from":"6f1c9a2e-4b7d-4e21-9f3a-0c5d8e7b1a42","channel":"lobby","cmd":"chat","param":{"user":"anonymous","name":"~ada","text":"hello everyone, this is one chat message","time":1764640000000}}"#.to_vec()
}

/// A JSON payload of about `size` bytes: a list of records, as an application pushes them.
fn json_of(size: usize) -> Vec<u8> {
    let mut out = String::from(r#"{"channel":"prices","cmd":"update","param":["#);
    let mut i = 0u64;
    while out.len() + 80 < size {
        let price = 100.0 + (i * 37 % 1000) as f64 / 100.0;
        out.push_str(&format!(
            r#"{{"id":{},"sym":"S{:03}","px":{price:.2},"qty":{}}},"#,
            1000 + i,
            i % 997,
            i * 13 % 500
        ));
        i += 1;
    }
    out.push_str(r#"{"id":0}]}"#);
    out.into_bytes()
}

fn flate2_deflate(compress: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> usize {
    compress.reset();
    out.clear();
    out.reserve(input.len() + 64);
    let _ = compress.compress_vec(input, out, FlushCompress::Sync);
    out.len() - 4 // the trailing 00 00 ff ff is not sent
}

fn libdeflate_deflate(compressor: &mut libdeflater::Compressor, input: &[u8], out: &mut Vec<u8>) -> usize {
    out.resize(compressor.deflate_compress_bound(input.len()), 0);
    compressor.deflate_compress(input, out).unwrap_or(0)
}

fn compare(c: &mut Criterion) {
    let payloads = [("chat_190", chat()), ("json_1k", json_of(1024)), ("json_16k", json_of(16 * 1024))];
    let mut out = Vec::new();
    for (name, input) in &payloads {
        for level in [1, 2, 3, 4, 6] {
            let mut f = Compress::new(Compression::new(level), false);
            let mut l = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level as i32).unwrap());
            let fl = flate2_deflate(&mut f, input, &mut out);
            let ll = libdeflate_deflate(&mut l, input, &mut out);
            println!("{name} ({} B) level {level}: flate2/zlib-rs {fl} B, libdeflater {ll} B", input.len());
        }
    }
    let mut group = c.benchmark_group("deflate");
    for (name, input) in &payloads {
        group.throughput(Throughput::Bytes(input.len() as u64));
        for level in [1u32, 2, 4, 6] {
            let mut f = Compress::new(Compression::new(level), false);
            group.bench_function(format!("flate2_zlib_rs/l{level}/{name}"), |b| {
                b.iter(|| flate2_deflate(&mut f, black_box(input), &mut out))
            });
            let mut l = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level as i32).unwrap());
            group.bench_function(format!("libdeflater/l{level}/{name}"), |b| {
                b.iter(|| libdeflate_deflate(&mut l, black_box(input), &mut out))
            });
        }
        // A fresh compressor per message (what a server without a kept compressor pays).
        group.bench_function(format!("flate2_zlib_rs/l1_new_each/{name}"), |b| {
            b.iter(|| flate2_deflate(&mut Compress::new(Compression::new(1), false), black_box(input), &mut out))
        });
        let mut compressed = Vec::new();
        let n = flate2_deflate(&mut Compress::new(Compression::new(1), false), input, &mut compressed);
        compressed.truncate(n);
        compressed.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut d = Decompress::new(false);
        let mut plain = Vec::with_capacity(input.len() + 64);
        group.bench_function(format!("flate2_zlib_rs/inflate/{name}"), |b| {
            b.iter(|| {
                d.reset(false);
                plain.clear();
                let _ = d.decompress_vec(black_box(&compressed), &mut plain, FlushDecompress::Sync);
                plain.len()
            })
        });
        let mut ld = libdeflater::Decompressor::new();
        let mut plain2 = vec![0u8; input.len() + 64];
        group.bench_function(format!("libdeflater/inflate/{name}"), |b| {
            b.iter(|| ld.deflate_decompress(black_box(&compressed[..n]), &mut plain2).map_or(0, |x| x))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(1)).warm_up_time(std::time::Duration::from_millis(300));
    targets = compare
}
criterion_main!(benches);
