//! Generates the protocol types from `proto/client.proto`.
//!
//! `protox` parses the schema in pure Rust (no system `protoc`), `prost-build`
//! emits the structs. The JSON rules of Centrifugo (snake_case names, raw JSON
//! `bytes`, omitted zero values with a few always-written exceptions) are
//! attached here as serde attributes computed from the parsed descriptors, so
//! every field of every message gets exactly the attribute its type needs and
//! a new field in the schema cannot be forgotten.

use std::error::Error;

use prost_build::Config;
use protox::prost_reflect::prost_types::{
    FieldDescriptorProto, field_descriptor_proto::Label, field_descriptor_proto::Type,
};

const PROTO_DIR: &str = "proto";
const PROTO_FILE: &str = "proto/client.proto";

/// Fields that Centrifugo writes in JSON even when they hold the zero value
/// (the fields of `client.proto`'s Go structs without `omitempty` in their
/// JSON tag). Listed as `Message.field`. An empty repeated field among them is
/// written as `[]`: Centrifugo fills `HistoryResult.publications` with a
/// non-nil slice, so clients never see `null` there.
const ALWAYS_WRITTEN: &[&str] = &[
    "ClientInfo.user",
    "ClientInfo.client",
    "PresenceStatsResult.num_clients",
    "PresenceStatsResult.num_users",
    "PresenceResult.presence",
    "HistoryResult.publications",
    "HistoryResult.epoch",
    "HistoryResult.offset",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_FILE}");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile([PROTO_FILE], [PROTO_DIR])?;

    let mut config = Config::new();
    // Payloads stay reference counted so one encoded publication can be shared.
    config.bytes(["."]);
    // Deterministic map order: stable JSON output and comparable values.
    config.btree_map(["."]);
    config.type_attribute(
        ".",
        "#[derive(::serde::Serialize, ::serde::Deserialize)]\n#[serde(default)]",
    );

    for file in &fds.file {
        let package = file.package();
        for message in &file.message_type {
            let message_name = message.name();
            for field in &message.field {
                let path = format!(".{package}.{message_name}.{}", field.name());
                let qualified = format!("{message_name}.{}", field.name());
                config.field_attribute(path, serde_attribute(&qualified, field));
            }
        }
    }

    config.compile_fds(fds)?;
    Ok(())
}

/// The serde attribute for one field, following Centrifugo's JSON rules.
fn serde_attribute(qualified: &str, field: &FieldDescriptorProto) -> String {
    let name = field.name();
    let repeated = field.label() == Label::Repeated;
    let mut parts = vec![format!("rename = \"{name}\"")];

    if field.r#type() == Type::Bytes && !repeated {
        parts.push("with = \"crate::json::raw\"".to_owned());
        parts.push("skip_serializing_if = \"::bytes::Bytes::is_empty\"".to_owned());
    } else if field.r#type() == Type::Message && !repeated {
        // Singular message fields are `Option<T>`; `null` already maps to `None`.
        parts.push("skip_serializing_if = \"::core::option::Option::is_none\"".to_owned());
    } else {
        if !ALWAYS_WRITTEN.contains(&qualified) {
            parts.push("skip_serializing_if = \"crate::json::is_default\"".to_owned());
        }
        parts.push("deserialize_with = \"crate::json::nullable\"".to_owned());
    }
    format!("#[serde({})]", parts.join(", "))
}
