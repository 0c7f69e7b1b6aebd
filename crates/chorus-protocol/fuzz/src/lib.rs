//! Properties shared by the fuzz targets.

use chorus_protocol::{FrameEncoder, Protocol, WireMessage, decode_frame};

/// Decodes `data` as a frame of `M`. When the frame is accepted:
///
/// * re-encoding the messages in the same protocol succeeds (a payload read
///   from JSON is always valid JSON) and decodes to equal messages;
/// * a re-encoded JSON frame has exactly `len - 1` newlines;
/// * messages accepted from JSON also survive a round trip through
///   Protobuf. (The reverse is not an identity: JSON drops `\n` bytes and
///   outer whitespace of payloads, and rejects non-JSON payloads.)
pub fn check_frame<M: WireMessage>(protocol: Protocol, data: &[u8]) {
    let Ok(messages) = decode_frame::<M>(protocol, data) else {
        return;
    };
    assert!(
        !messages.is_empty(),
        "an accepted frame holds at least one message"
    );
    assert_round_trip(protocol, &messages);
    if protocol == Protocol::Json {
        assert_round_trip(Protocol::Protobuf, &messages);
    }
}

fn assert_round_trip<M: WireMessage>(protocol: Protocol, messages: &[M]) {
    let mut frame = FrameEncoder::new(protocol);
    for message in messages {
        if let Err(error) = frame.append(message) {
            panic!("{protocol}: accepted message does not re-encode: {error}");
        }
    }
    let encoded = frame.finish();
    if protocol == Protocol::Json {
        let newlines = encoded.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(newlines, messages.len() - 1, "JSON frame separators");
    }
    let decoded = decode_frame::<M>(protocol, &encoded)
        .unwrap_or_else(|error| panic!("{protocol}: re-encoded frame does not decode: {error}"));
    assert_eq!(
        decoded, messages,
        "{protocol}: round trip changed the messages"
    );
}
