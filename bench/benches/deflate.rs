//! permessage-deflate per message against raw flate2 with the same backend
//! (zlib-rs), level and window, so wsstack's overhead over zlib is a
//! number. Both sides compress each message on its own (no context
//! takeover), which is what makes a message reusable across iterations.
//!
//! `cargo bench -p wsstack-bench --bench deflate`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use wsstack::connection::{Config, Event, Message};
use wsstack::extensions::PerMessageDeflate;
use wsstack_bench::{deflate_pair, json_like};

const LEVEL: u32 = 1;

fn raw_compress(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    c.reset();
    out.clear();
    c.compress_vec(input, out, FlushCompress::Sync).unwrap();
    out.truncate(out.len() - 4);
}

fn raw_decompress(d: &mut Decompress, input: &[u8], out: &mut Vec<u8>) {
    d.reset(false);
    out.clear();
    d.decompress_vec(input, out, FlushDecompress::Sync).unwrap();
    d.decompress_vec(&[0, 0, 0xff, 0xff], out, FlushDecompress::Sync)
        .unwrap();
}

fn bench(c: &mut Criterion) {
    let pmd = PerMessageDeflate::new()
        .with_level(LEVEL)
        .with_server_no_context_takeover(true)
        .with_client_no_context_takeover(true);
    for (label, text) in [("20B", json_like(20)), ("16KiB_json", json_like(16 * 1024))] {
        let mut group = c.benchmark_group(format!("pmd_{label}"));
        group.throughput(Throughput::Bytes(text.len() as u64));

        // Compress: wsstack server engine, send + poll_transmit.
        let (mut client, mut server) = deflate_pair(pmd.clone(), Config::default());
        let mut out = Vec::with_capacity(64 * 1024);
        group.bench_function(BenchmarkId::new("compress", "wsstack"), |b| {
            b.iter(|| {
                server.send_text(&text).unwrap();
                out.clear();
                server.poll_transmit(&mut out);
            })
        });
        let mut comp = Compress::new_with_window_bits(Compression::new(LEVEL), false, 15);
        let mut raw = Vec::with_capacity(64 * 1024);
        group.bench_function(BenchmarkId::new("compress", "raw_flate2"), |b| {
            b.iter(|| raw_compress(&mut comp, text.as_bytes(), &mut raw))
        });

        // Decompress: wsstack client engine, receive + poll_event.
        server.send_text(&text).unwrap();
        let mut frame = Vec::new();
        server.poll_transmit(&mut frame);
        group.bench_function(BenchmarkId::new("decompress", "wsstack"), |b| {
            b.iter(|| {
                client.receive(&frame);
                match client.poll_event() {
                    Ok(Some(Event::Message(Message::Text(t)))) => assert_eq!(t.len(), text.len()),
                    other => panic!("{other:?}"),
                }
            })
        });
        let header = if frame[1] & 0x7f == 126 { 4 } else { 2 };
        let payload = frame[header..].to_vec();
        let mut dec = Decompress::new_with_window_bits(false, 15);
        let mut back = Vec::with_capacity(text.len() + 64);
        group.bench_function(BenchmarkId::new("decompress", "raw_flate2"), |b| {
            b.iter(|| {
                raw_decompress(&mut dec, &payload, &mut back);
                assert_eq!(back.len(), text.len());
                // A fair peer also checks the text is UTF-8, as we must.
                assert!(std::str::from_utf8(&back).is_ok());
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
