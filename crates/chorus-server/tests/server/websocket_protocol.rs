//! WebSocket protocol errors from a raw socket: each ends with a close frame
//! carrying the right code (1002 protocol error, 1007 invalid UTF-8, 1009 too
//! big), not a bare TCP close that a client would take for a network failure.

use crate::support::{config, start};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// An upgraded raw connection to `/connection/websocket`.
async fn upgraded(addr: SocketAddr) -> TcpStream {
    upgraded_at(addr, "/connection/websocket").await
}

/// An upgraded raw connection to `path`.
async fn upgraded_at(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "closed during the handshake"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// A client frame: `first` is FIN/RSV/opcode, the payload masked when `mask`.
fn frame(first: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![first];
    let mask_bit = if mask { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | u8::try_from(n).unwrap()),
        n => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    if mask {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// The code of the server's close frame; panics on a close without one.
async fn close_code(stream: &mut TcpStream) -> u16 {
    let read = async {
        loop {
            let mut head = [0u8; 2];
            stream
                .read_exact(&mut head)
                .await
                .expect("the server closed the TCP connection without a close frame");
            let len = match head[1] & 0x7f {
                126 => usize::from(stream.read_u16().await.unwrap()),
                127 => usize::try_from(stream.read_u64().await.unwrap()).unwrap(),
                n => usize::from(n),
            };
            let mut payload = vec![0u8; len];
            stream.read_exact(&mut payload).await.unwrap();
            if head[0] & 0x0f == 0x8 {
                assert!(payload.len() >= 2, "close frame without a code");
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("no close frame")
}

#[tokio::test]
async fn protocol_errors_close_with_a_code() {
    let (addr, _state) = start(config(json!({"websocket": {"message_size_limit": 1024}}))).await;
    let cases: [(&str, Vec<u8>, u16); 6] = [
        (
            "invalid UTF-8",
            frame(0x81, &[0xff, 0xfe, 0xfd], true),
            1007,
        ),
        ("unmasked frame", frame(0x81, b"{}", false), 1002),
        ("RSV1 without an extension", frame(0xC1, b"{}", true), 1002),
        ("reserved data opcode", frame(0x83, b"{}", true), 1002),
        (
            "oversized control frame",
            frame(0x89, &[0u8; 126], true),
            1002,
        ),
        (
            "message over the limit",
            frame(0x82, &[0u8; 2000], true),
            1009,
        ),
    ];
    for (name, bytes, want) in cases {
        let mut stream = upgraded(addr).await;
        stream.write_all(&bytes).await.unwrap();
        assert_eq!(close_code(&mut stream).await, want, "{name}");
    }
}

#[tokio::test]
async fn uni_websocket_protocol_errors_close_with_a_code() {
    let (addr, _state) = start(config(json!({}))).await;
    let token = crate::support::token("uni-user", None, &[]);
    let connect = json!({"token": token}).to_string();
    let mut stream = upgraded_at(addr, "/connection/uni_websocket").await;
    stream
        .write_all(&frame(0x81, connect.as_bytes(), true))
        .await
        .unwrap();
    // Once connected, client messages are ignored, but a broken frame still ends
    // the connection with a close frame.
    stream.write_all(&frame(0x81, b"{}", false)).await.unwrap();
    assert_eq!(close_code(&mut stream).await, 1002);
}
