//! Codec throughput: encoding one publication push, decoding command and
//! reply frames, in both encodings.
//!
//! Run with `cargo bench -p chorus-protocol --bench codec`.

use std::hint::black_box;

use bytes::Bytes;
use chorus_protocol::{
    Command, ConnectRequest, FrameEncoder, Protocol, Publication, Push, Reply, SubscribeRequest,
    decode_commands, decode_replies, encode_reply,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A typical publication push: a ~100 byte JSON payload with an offset.
fn publication_push() -> Reply {
    Reply::from(Push {
        channel: "chat:room-42".into(),
        r#pub: Some(Publication {
            data: Bytes::from_static(
                br#"{"user":"alice","text":"hello everyone, this is a chat message","ts":1767225600000}"#,
            ),
            offset: 1_234_567,
            ..Publication::default()
        }),
        ..Push::default()
    })
}

/// What centrifuge-js sends right after opening the socket.
fn connect_and_subscribe() -> Vec<Command> {
    let mut commands = vec![Command {
        id: 1,
        connect: Some(ConnectRequest {
            token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImV4cCI6MTc2NzIyNTYwMH0.c2lnbmF0dXJl"
                .into(),
            name: "js".into(),
            version: "5.4.0".into(),
            ..ConnectRequest::default()
        }),
        ..Command::default()
    }];
    for (id, channel) in (2..).zip(["chat:room-42", "news", "user#42"]) {
        commands.push(Command {
            id,
            subscribe: Some(SubscribeRequest {
                channel: channel.into(),
                recover: true,
                epoch: "AbCdEfGh".into(),
                offset: 14,
                ..SubscribeRequest::default()
            }),
            ..Command::default()
        });
    }
    commands
}

fn frame_of<M: chorus_protocol::WireMessage>(protocol: Protocol, messages: &[M]) -> Bytes {
    let mut frame = FrameEncoder::new(protocol);
    for message in messages {
        frame.append(message).expect("benchmark messages encode");
    }
    frame.finish()
}

fn encode_publication(c: &mut Criterion) {
    let reply = publication_push();
    let mut group = c.benchmark_group("encode_publication_push");
    group.throughput(Throughput::Elements(1));
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        group.bench_function(protocol.to_string(), |b| {
            b.iter(|| encode_reply(protocol, black_box(&reply)).expect("encodes"));
        });
    }
    group.finish();
}

fn decode_frames(c: &mut Criterion) {
    let commands = connect_and_subscribe();
    let mut group = c.benchmark_group("decode_connect_subscribe_frame");
    group.throughput(Throughput::Elements(commands.len() as u64));
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        let frame = frame_of(protocol, &commands);
        group.bench_function(protocol.to_string(), |b| {
            b.iter(|| decode_commands(protocol, black_box(&frame)).expect("decodes"));
        });
    }
    group.finish();

    let replies = vec![publication_push(); 8];
    let mut group = c.benchmark_group("decode_publication_frame");
    group.throughput(Throughput::Elements(replies.len() as u64));
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        let frame = frame_of(protocol, &replies);
        group.bench_function(protocol.to_string(), |b| {
            b.iter(|| decode_replies(protocol, black_box(&frame)).expect("decodes"));
        });
    }
    group.finish();
}

criterion_group!(benches, encode_publication, decode_frames);
criterion_main!(benches);
