//! Decodes untrusted bytes as the body of every HTTP API method (the request
//! objects of `POST /api/<method>`, `batch` included): no input may panic, and
//! an accepted request must re-encode to JSON that decodes again.
#![no_main]

use chorus_server::api::types::{
    BatchRequest, BroadcastRequest, ChannelsRequest, ConnectionsRequest, DisconnectRequest,
    HistoryRemoveRequest, HistoryRequest, InfoRequest, PresenceRequest, PresenceStatsRequest,
    PublishRequest, RefreshRequest, RpcRequest, SubscribeRequest, UnsubscribeRequest,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn check<T: DeserializeOwned + Serialize>(data: &[u8]) {
    let Ok(request) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let encoded = serde_json::to_vec(&request).expect("an accepted request re-encodes");
    serde_json::from_slice::<T>(&encoded).expect("a re-encoded request decodes");
}

fuzz_target!(|data: &[u8]| {
    check::<PublishRequest>(data);
    check::<BroadcastRequest>(data);
    check::<SubscribeRequest>(data);
    check::<UnsubscribeRequest>(data);
    check::<DisconnectRequest>(data);
    check::<RefreshRequest>(data);
    check::<PresenceRequest>(data);
    check::<PresenceStatsRequest>(data);
    check::<HistoryRequest>(data);
    check::<HistoryRemoveRequest>(data);
    check::<ChannelsRequest>(data);
    check::<InfoRequest>(data);
    check::<RpcRequest>(data);
    check::<BatchRequest>(data);
    check::<ConnectionsRequest>(data);
});
