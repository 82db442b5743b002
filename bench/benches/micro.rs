//! Micro benchmarks of the hot paths (docs/BENCHMARKS.md §1): unmasking,
//! and decoding a masked text frame with its UTF-8 check, each next to a
//! peer measured in the same run (tungstenite for decoding; memcpy and a
//! byte-wise loop bracket unmasking).
//!
//! `cargo bench -p wsstack-bench --bench micro`

use std::io::Cursor;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use wsstack::connection::{Config, Engine, Event};
use wsstack::frame::{apply_mask, Frame};
use wsstack::Limits;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn bytewise(buf: &mut [u8], key: [u8; 4]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn unmask(c: &mut Criterion) {
    for size in [20usize, 1024, 64 * 1024, 1 << 20] {
        let mut group = c.benchmark_group(format!("unmask_{size}"));
        group.throughput(Throughput::Bytes(size as u64));
        // Odd offset: the payload rarely starts on an aligned address.
        let mut storage = vec![0x5au8; size + 3];
        group.bench_function(BenchmarkId::new("wsstack", "offset3"), |b| {
            b.iter(|| apply_mask(&mut storage[3..], KEY, 0))
        });
        group.bench_function(BenchmarkId::new("wsstack", "offset0"), |b| {
            b.iter(|| apply_mask(&mut storage[..size], KEY, 0))
        });
        group.bench_function(BenchmarkId::new("bytewise", "offset3"), |b| {
            b.iter(|| bytewise(&mut storage[3..], KEY))
        });
        let src = vec![0x5au8; size];
        let mut dst = vec![0u8; size + 3];
        group.bench_function(BenchmarkId::new("memcpy", "offset3"), |b| {
            b.iter(|| dst[3..].copy_from_slice(&src))
        });
        group.finish();
    }
}

/// A masked text frame from a client, as a server receives it.
fn masked_text(size: usize, ascii: bool) -> Vec<u8> {
    let text: String = if ascii {
        "a".repeat(size)
    } else {
        "añ€😀"
            .repeat(size / 10 + 1)
            .chars()
            .take(size / 2)
            .collect()
    };
    let mut wire = Vec::new();
    Frame::text(text).with_mask(Some(KEY)).encode(&mut wire);
    wire
}

fn decode(c: &mut Criterion) {
    let limits = Limits::default()
        .with_max_frame_size(1 << 20)
        .with_max_message_size(1 << 20);
    for (label, size, ascii) in [
        ("20B", 20, true),
        ("1KiB", 1024, true),
        ("64KiB", 64 * 1024, true),
        ("64KiB_mixed", 64 * 1024, false),
    ] {
        let wire = masked_text(size, ascii);
        let mut group = c.benchmark_group(format!("decode_text_{label}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));
        let mut engine = Engine::server(Config::default().with_limits(limits)).unwrap();
        group.bench_function("wsstack", |b| {
            b.iter(|| {
                engine.receive(&wire);
                match engine.poll_event() {
                    Ok(Some(Event::Message(m))) => m,
                    other => panic!("{other:?}"),
                }
            })
        });
        // The input copy is made outside the timed part.
        group.bench_function("tungstenite", |b| {
            b.iter_batched(
                || Cursor::new(wire.clone()),
                |stream| {
                    let mut ws = tungstenite::WebSocket::from_raw_socket(
                        stream,
                        tungstenite::protocol::Role::Server,
                        None,
                    );
                    ws.read().unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, unmask, decode);
criterion_main!(benches);
