//! Generates the example's gRPC service from `proto/streams.proto`
//! (`protox` parses it in pure Rust, so no system `protoc` is needed).

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto/streams.proto");
    let fds = protox::compile(["proto/streams.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}
