//! Decodes untrusted bytes as an HTTP proxy backend's JSON answer. The first
//! byte picks the event (connect, refresh, subscribe, publish, rpc,
//! sub_refresh); no input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&kind, body)) = data.split_first() {
        let _ = chorus_server::proxy::fuzz_decode_json_reply(kind, body);
    }
});
