//! Generates the gRPC services (server API, unidirectional stream, proxy) from
//! every `proto/*.proto` file.
//!
//! `protox` parses the schemas in pure Rust (no system `protoc`);
//! `tonic-prost-build` emits the messages and both client and server stubs
//! (clients are used by tests, the proxy and the examples). Protocol messages
//! shared with the client protocol (`Push`, `ConnectRequest`, …) are imported
//! from `chorus-protocol`'s `client.proto` and mapped onto its Rust types, so a
//! `Push` is encoded by one implementation everywhere.

use std::error::Error;
use std::path::PathBuf;

const PROTO_DIR: &str = "proto";
const PROTOCOL_DIR: &str = "../chorus-protocol/proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={PROTO_DIR}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(PROTO_DIR)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    // The proxy service has an RPC named `Connect`, which clashes with the
    // generated client's `connect` constructor: it gets server stubs only, and
    // `src/proxy/grpc.rs` has a hand-written client.
    let (proxy, files): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|p| p.file_name().is_some_and(|n| n == "proxy.proto"));
    if !proxy.is_empty() {
        tonic_prost_build::configure()
            .build_client(false)
            .build_server(true)
            .bytes(".")
            .compile_fds(protox::compile(&proxy, [PROTO_DIR])?)?;
    }
    let fds = protox::compile(&files, [PROTO_DIR, PROTOCOL_DIR])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".")
        .extern_path(".centrifugal.centrifuge.protocol", "::chorus_protocol")
        .compile_fds(fds)?;
    Ok(())
}
