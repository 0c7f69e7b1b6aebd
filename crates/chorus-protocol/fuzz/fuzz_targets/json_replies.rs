//! Decodes untrusted bytes as a Json frame of `Reply`s; accepted frames must
//! re-encode and re-decode to equal values.
#![no_main]

use chorus_protocol::{Protocol, Reply};
use chorus_protocol_fuzz::check_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check_frame::<Reply>(Protocol::Json, data));
