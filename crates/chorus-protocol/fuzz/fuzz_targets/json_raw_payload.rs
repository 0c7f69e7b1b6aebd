//! Arbitrary bytes as a publication payload on a JSON connection: encoding
//! either fails (not JSON) or embeds the payload so that decoding gives back
//! exactly the payload without `\n` bytes and surrounding whitespace.
#![no_main]

use chorus_protocol::bytes::Bytes;
use chorus_protocol::{Protocol, Publication, Push, Reply, decode_replies, encode_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reply = Reply::from(Push {
        channel: "c".into(),
        r#pub: Some(Publication {
            data: Bytes::copy_from_slice(data),
            ..Publication::default()
        }),
        ..Push::default()
    });
    let Ok(encoded) = encode_reply(Protocol::Json, &reply) else {
        return;
    };
    assert!(!encoded.contains(&b'\n'));
    let decoded = decode_replies(Protocol::Json, &encoded).expect("encoded reply decodes");
    let payload = decoded[0]
        .push
        .as_ref()
        .and_then(|p| p.r#pub.as_ref())
        .map(|p| p.data.clone());
    let stripped: Vec<u8> = data.iter().copied().filter(|&b| b != b'\n').collect();
    let expected = stripped.trim_ascii();
    if data.is_empty() {
        assert_eq!(payload, Some(Bytes::new()));
    } else {
        assert_eq!(payload.as_deref(), Some(expected));
    }
});
