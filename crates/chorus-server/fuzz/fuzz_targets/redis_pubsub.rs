//! Decodes untrusted bytes as a Redis PUB/SUB payload of the Redis engine
//! (publication with or without its stream position, join, leave); no input
//! may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chorus_redis::fuzzing::decode_pubsub(data);
});
