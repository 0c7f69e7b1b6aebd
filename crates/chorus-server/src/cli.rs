//! Command-line interface (Centrifugo-compatible subcommands and flags).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{ConfigFormat, ConfigLoader, DEFAULT_CONFIG_PATH};

/// Chorus: a real-time messaging server compatible with Centrifugo v6.
///
/// Without a subcommand the server starts.
#[derive(Debug, Parser)]
#[command(name = "chorus", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do; none = run the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags accepted before or after any subcommand. Flags override the
/// config file and environment.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// Config file (JSON, YAML or TOML by extension). Default config.json;
    /// a missing default file means "all defaults", a missing explicit file is an error.
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Port to listen on (http_server.port).
    #[arg(
        short = 'p',
        long = "port",
        visible_alias = "http_server.port",
        global = true
    )]
    pub port: Option<u16>,
    /// Address to bind (http_server.address).
    #[arg(
        short = 'a',
        long = "address",
        visible_alias = "http_server.address",
        global = true
    )]
    pub address: Option<String>,
    /// Log level: none, trace, debug, info, warn, error.
    #[arg(long = "log.level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Engine type: memory or redis.
    #[arg(long = "engine.type", global = true, value_name = "TYPE")]
    pub engine_type: Option<String>,
    /// Allow clients everything without tokens (development only).
    #[arg(long = "client.insecure", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub client_insecure: Option<bool>,
    /// Disable HTTP API key checks (development only).
    #[arg(long = "http_api.insecure", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub http_api_insecure: Option<bool>,
    /// Enable the health endpoint.
    #[arg(long = "health.enabled", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub health_enabled: Option<bool>,
    /// Enable the admin UI.
    #[arg(long = "admin.enabled", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub admin_enabled: Option<bool>,
    /// Enable the Prometheus endpoint.
    #[arg(long = "prometheus.enabled", global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub prometheus_enabled: Option<bool>,
    /// Write the process id to this file while running (`pid_file`).
    #[arg(
        long = "pid-file",
        alias = "pid_file",
        global = true,
        value_name = "FILE"
    )]
    pub pid_file: Option<String>,
}

impl GlobalArgs {
    /// The config file path and whether it was given explicitly.
    pub fn config_path(&self) -> (PathBuf, bool) {
        match &self.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        }
    }

    /// A loader for the config file, the process environment and these flags.
    pub fn loader(&self) -> ConfigLoader {
        let (path, explicit) = self.config_path();
        let loader = if explicit {
            ConfigLoader::new().file(path)
        } else {
            ConfigLoader::new().optional_file(path)
        };
        self.apply_flags(loader.process_env())
    }

    /// Applies the flag overrides to a loader.
    pub fn apply_flags(&self, mut loader: ConfigLoader) -> ConfigLoader {
        if let Some(port) = self.port {
            loader = loader.set("http_server.port", port);
        }
        if let Some(address) = &self.address {
            loader = loader.set("http_server.address", address.clone());
        }
        if let Some(level) = &self.log_level {
            loader = loader.set("log.level", level.clone());
        }
        if let Some(engine) = &self.engine_type {
            loader = loader.set("engine.type", engine.clone());
        }
        if let Some(pid_file) = &self.pid_file {
            loader = loader.set("pid_file", pid_file.clone());
        }
        for (key, flag) in [
            ("client.insecure", self.client_insecure),
            ("http_api.insecure", self.http_api_insecure),
            ("health.enabled", self.health_enabled),
            ("admin.enabled", self.admin_enabled),
            ("prometheus.enabled", self.prometheus_enabled),
        ] {
            if let Some(value) = flag {
                loader = loader.set(key, value);
            }
        }
        loader
    }
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Write a minimal config file with generated secrets (to --config, default config.json).
    Genconfig,
    /// Print a connection token (HS256, using client.token.hmac_secret_key).
    Gentoken(GenTokenArgs),
    /// Print a subscription token (HS256).
    Gensubtoken(GenSubTokenArgs),
    /// Check the config file; exits non-zero on problems.
    Checkconfig(CheckConfigArgs),
    /// Verify a connection token with the configured keys.
    Checktoken(CheckTokenArgs),
    /// Verify a subscription token with the configured keys.
    Checksubtoken(CheckTokenArgs),
    /// Print the full configuration with all defaults.
    Defaultconfig(DefaultConfigArgs),
    /// Print the version.
    Version,
}

/// `gentoken` options.
#[derive(Debug, Clone, Args)]
pub struct GenTokenArgs {
    /// User id (`sub`); empty = anonymous.
    #[arg(short = 'u', long = "user", default_value = "")]
    pub user: String,
    /// Lifetime in seconds; 0 or negative (e.g. -1) = no expiry.
    #[arg(
        short = 't',
        long = "ttl",
        default_value_t = 604_800,
        allow_negative_numbers = true
    )]
    pub ttl: i64,
    /// Print only the token.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `gensubtoken` options.
#[derive(Debug, Clone, Args)]
pub struct GenSubTokenArgs {
    /// User id (`sub`).
    #[arg(short = 'u', long = "user", default_value = "")]
    pub user: String,
    /// Channel.
    #[arg(short = 's', long = "channel")]
    pub channel: String,
    /// Lifetime in seconds; 0 or negative = no expiry.
    #[arg(
        short = 't',
        long = "ttl",
        default_value_t = 604_800,
        allow_negative_numbers = true
    )]
    pub ttl: i64,
    /// Print only the token.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `checkconfig` options.
#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    /// Also fail on unknown keys and unknown environment variables.
    #[arg(long)]
    pub strict: bool,
}

/// `checktoken` / `checksubtoken` options.
#[derive(Debug, Clone, Args)]
pub struct CheckTokenArgs {
    /// The JWT to verify.
    pub token: String,
}

/// Output format for `defaultconfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// JSON.
    #[default]
    Json,
    /// YAML.
    Yaml,
    /// TOML.
    Toml,
}

impl From<OutputFormat> for ConfigFormat {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Json => Self::Json,
            OutputFormat::Yaml => Self::Yaml,
            OutputFormat::Toml => Self::Toml,
        }
    }
}

/// `defaultconfig` options.
#[derive(Debug, Clone, Args)]
pub struct DefaultConfigArgs {
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = OutputFormat::Json)]
    pub format: OutputFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_flags_and_negative_ttl() {
        let cli = Cli::parse_from([
            "chorus",
            "-c",
            "x.yaml",
            "--client.insecure",
            "-p",
            "9000",
            "gentoken",
            "-u",
            "42",
            "-t",
            "-1",
        ]);
        assert_eq!(cli.global.client_insecure, Some(true));
        assert_eq!(cli.global.port, Some(9000));
        assert_eq!(cli.global.config_path(), (PathBuf::from("x.yaml"), true));
        let Some(Command::Gentoken(args)) = cli.command else {
            panic!("expected gentoken");
        };
        assert_eq!(args.user, "42");
        assert_eq!(args.ttl, -1);
        let cli = Cli::parse_from(["chorus", "--health.enabled=false"]);
        assert_eq!(cli.global.health_enabled, Some(false));
        assert!(!cli.global.config_path().1);
    }
}
