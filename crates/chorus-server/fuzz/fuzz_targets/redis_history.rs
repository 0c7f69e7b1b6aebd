//! Parses untrusted bytes as a RESP reply, then as the history script's
//! answer (top offset, epoch, stream entries) and each entry as a
//! publication, as a history read of the Redis engine does; no input may
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chorus_redis::fuzzing::decode_history_reply(data);
});
