//! Options Centrifugo accepts that Chorus cannot honour yet: each is refused at
//! start-up with a message naming it, so that no setting is silently ignored.

use super::{GoDuration, ServerConfig};

/// Default of every deflate level option.
const DEFAULT_COMPRESSION_LEVEL: i32 = 1;

pub(super) fn problems(config: &ServerConfig) -> Vec<String> {
    let mut out = Vec::new();
    if config.client.subscribe_to_user_personal_channel.enabled {
        out.push(
            "client.subscribe_to_user_personal_channel.enabled: not supported yet (no automatic \
             personal channel subscription); remove it or set false"
                .to_owned(),
        );
    }
    if config.client.concurrency > 0 {
        out.push(format!(
            "client.concurrency: {} is not supported (commands of a connection are processed \
             in order, one at a time); remove it or set 0",
            config.client.concurrency
        ));
    }
    let ws = &config.websocket;
    compression(
        &mut out,
        "websocket",
        ws.compression,
        ws.compression_level,
        ws.compression_min_size,
    );
    write_buffer(
        &mut out,
        "websocket",
        ws.write_buffer_size,
        ws.use_write_buffer_pool,
    );
    let uni = &config.uni_websocket;
    compression(
        &mut out,
        "uni_websocket",
        uni.compression,
        uni.compression_level,
        uni.compression_min_size,
    );
    write_buffer(
        &mut out,
        "uni_websocket",
        uni.write_buffer_size,
        uni.use_write_buffer_pool,
    );
    if uni.read_buffer_size != 0 {
        out.push("uni_websocket.read_buffer_size: not supported; remove it or set 0".to_owned());
    }
    if config.node.info_metrics_aggregate_interval != GoDuration::from_secs(60) {
        out.push(format!(
            "node.info_metrics_aggregate_interval: {} is not supported (the info API reports \
             no metrics); remove it",
            config.node.info_metrics_aggregate_interval
        ));
    }
    out
}

fn compression(out: &mut Vec<String>, section: &str, on: bool, level: i32, min_size: u64) {
    if on {
        out.push(format!(
            "{section}.compression: permessage-deflate is not supported; remove it or set false"
        ));
    }
    if level != DEFAULT_COMPRESSION_LEVEL {
        out.push(format!(
            "{section}.compression_level: {level} is not supported (no permessage-deflate); \
             remove it"
        ));
    }
    if min_size != 0 {
        out.push(format!(
            "{section}.compression_min_size: {min_size} is not supported (no permessage-deflate); \
             remove it"
        ));
    }
}

fn write_buffer(out: &mut Vec<String>, section: &str, size: u64, pool: bool) {
    if size != 0 {
        out.push(format!(
            "{section}.write_buffer_size: {size} is not supported; remove it or set 0"
        ));
    }
    if pool {
        out.push(format!(
            "{section}.use_write_buffer_pool: not supported; remove it or set false"
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigFormat, ServerConfig};

    fn problems(json: &str) -> Vec<String> {
        ServerConfig::from_str_format(json, ConfigFormat::Json)
            .unwrap()
            .config
            .problems()
    }

    #[test]
    fn defaults_are_accepted() {
        assert!(problems("{}").is_empty());
    }

    #[test]
    fn each_unsupported_option_is_refused_by_name() {
        for (json, key) in [
            (r#"{"client": {"concurrency": 4}}"#, "client.concurrency"),
            (
                r#"{"client": {"subscribe_to_user_personal_channel": {"enabled": true}}}"#,
                "client.subscribe_to_user_personal_channel.enabled",
            ),
            (
                r#"{"websocket": {"compression": true}}"#,
                "websocket.compression:",
            ),
            (
                r#"{"websocket": {"compression_level": 5}}"#,
                "websocket.compression_level",
            ),
            (
                r#"{"websocket": {"compression_min_size": 128}}"#,
                "websocket.compression_min_size",
            ),
            (
                r#"{"websocket": {"write_buffer_size": 4096}}"#,
                "websocket.write_buffer_size",
            ),
            (
                r#"{"websocket": {"use_write_buffer_pool": true}}"#,
                "websocket.use_write_buffer_pool",
            ),
            (
                r#"{"uni_websocket": {"compression": true}}"#,
                "uni_websocket.compression:",
            ),
            (
                r#"{"uni_websocket": {"compression_level": 5}}"#,
                "uni_websocket.compression_level",
            ),
            (
                r#"{"uni_websocket": {"compression_min_size": 1}}"#,
                "uni_websocket.compression_min_size",
            ),
            (
                r#"{"uni_websocket": {"read_buffer_size": 4096}}"#,
                "uni_websocket.read_buffer_size",
            ),
            (
                r#"{"uni_websocket": {"write_buffer_size": 4096}}"#,
                "uni_websocket.write_buffer_size",
            ),
            (
                r#"{"uni_websocket": {"use_write_buffer_pool": true}}"#,
                "uni_websocket.use_write_buffer_pool",
            ),
            (
                r#"{"node": {"info_metrics_aggregate_interval": "30s"}}"#,
                "node.info_metrics_aggregate_interval",
            ),
        ] {
            let found = problems(json);
            assert!(
                found.iter().any(|p| p.starts_with(key)),
                "{json}: expected a problem naming {key}, got {found:?}"
            );
        }
    }
}
