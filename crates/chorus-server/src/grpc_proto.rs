//! Types and gRPC stubs generated from `proto/*.proto` (see `build.rs`).

/// `centrifugal.centrifugo.api`: the gRPC server API.
pub mod api {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/centrifugal.centrifugo.api.rs"));
}

/// `centrifugal.centrifugo.unistream`: the unidirectional gRPC transport.
pub mod unistream {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    include!(concat!(
        env!("OUT_DIR"),
        "/centrifugal.centrifugo.unistream.rs"
    ));
}

/// `centrifugal.centrifugo.proxy`: the proxy (event hooks) service.
pub mod proxy {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/centrifugal.centrifugo.proxy.rs"));
}
