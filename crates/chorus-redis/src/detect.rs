//! Redis Cluster detection for plain addresses, as Centrifugo does it: an
//! `address` that points at a cluster node makes that shard a cluster, seeded
//! by the address and by its `addr=` query parameters.
//!
//! Detection needs the server: [`RedisEngineConfig::detect_clusters`] asks each
//! standalone address `INFO cluster` once, at start-up. An address that cannot
//! be reached then stays standalone (the engine connects lazily, so a server
//! may start before Redis) and a warning names it.

use crate::config::{RedisAddress, RedisEngineConfig};
use std::time::Duration;

/// Splits `addr=` parameters off a URL: the URL without them, and each as a
/// URL with the same scheme and credentials.
fn split_seeds(url: &str) -> (String, Vec<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let (query, fragment) = query.split_once('#').map_or((query, ""), |(q, f)| (q, f));
    let (mut extra, mut kept) = (Vec::new(), Vec::new());
    for param in query.split('&').filter(|p| !p.is_empty()) {
        match param.strip_prefix("addr=") {
            Some(host) => extra.push(host),
            None => kept.push(param),
        }
    }
    let mut own = base.to_owned();
    if !kept.is_empty() {
        own.push('?');
        own.push_str(&kept.join("&"));
    }
    if !fragment.is_empty() {
        own.push('#');
        own.push_str(fragment);
    }
    // `scheme://[userinfo@]host[/db][?…]`: swap the host part only.
    let (scheme, rest) = base.split_once("://").unwrap_or(("redis", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    let userinfo = authority.rsplit_once('@').map(|(u, _)| u);
    let suffix = if fragment.is_empty() {
        String::new()
    } else {
        format!("#{fragment}")
    };
    let seeds = extra
        .into_iter()
        .map(|host| match userinfo {
            Some(u) => format!("{scheme}://{u}@{host}{suffix}"),
            None => format!("{scheme}://{host}{suffix}"),
        })
        .collect();
    (own, seeds)
}

/// Whether the server at `url` runs in cluster mode.
async fn is_cluster(url: &str, timeout: Duration) -> Result<bool, String> {
    let probe = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("INFO")
            .arg("cluster")
            .query_async::<String>(&mut conn)
            .await
    };
    let info = tokio::time::timeout(timeout, probe)
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(info.lines().any(|l| l.trim() == "cluster_enabled:1"))
}

impl RedisEngineConfig {
    /// Turns every standalone shard whose server is a Redis Cluster node into a
    /// cluster shard, seeded by its address and its `addr=` parameters
    /// (`redis://a:7000?addr=b:7000&addr=c:7000`); strips `addr=` from the
    /// others. Each probe is bounded by twice the connect timeout; an
    /// unreachable server stays standalone, with a warning.
    pub async fn detect_clusters(mut self) -> Self {
        let timeout = self.connect_timeout * 2;
        for shard in &mut self.shards {
            let RedisAddress::Standalone(url) = shard else {
                continue;
            };
            if url.starts_with("unix://") {
                continue;
            }
            let (own, seeds) = split_seeds(url);
            match is_cluster(&own, timeout).await {
                Ok(true) => {
                    let mut all = vec![own];
                    all.extend(seeds);
                    *shard = RedisAddress::Cluster(all);
                }
                Ok(false) => *shard = RedisAddress::Standalone(own),
                Err(reason) => {
                    let host = own.rsplit_once('@').map_or(own.as_str(), |(_, h)| h);
                    tracing::warn!(
                        address = host,
                        reason,
                        "redis: cannot tell whether this address is a Redis Cluster node; using it as a standalone server (set cluster_address to be explicit)"
                    );
                    *shard = RedisAddress::Standalone(own);
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::split_seeds;

    #[test]
    fn addr_parameters_become_seeds_with_the_same_credentials() {
        assert_eq!(
            split_seeds("redis://u:p@a:7000/0?addr=b:7001&addr=c:7002"),
            (
                "redis://u:p@a:7000/0".to_owned(),
                vec![
                    "redis://u:p@b:7001".to_owned(),
                    "redis://u:p@c:7002".to_owned()
                ]
            )
        );
        assert_eq!(
            split_seeds("rediss://a:1?protocol=resp3&addr=b:2#insecure"),
            (
                "rediss://a:1?protocol=resp3#insecure".to_owned(),
                vec!["rediss://b:2#insecure".to_owned()]
            )
        );
        assert_eq!(
            split_seeds("redis://a:1"),
            ("redis://a:1".to_owned(), Vec::new())
        );
    }
}
