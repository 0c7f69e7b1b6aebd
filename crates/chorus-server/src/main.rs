//! The `chorus` binary.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use serde_json::json;

use chorus_server::auth::{self, ConnectTokenOptions, JwtVerifier};
use chorus_server::cli::{CheckConfigArgs, Cli, Command, GenSubTokenArgs, GenTokenArgs};
use chorus_server::config::{ConfigFormat, GoDuration, LoadedConfig, ServerConfig};
use chorus_server::server::{self, StartInfo};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        None => serve(&cli).await,
        Some(Command::Version) => {
            println!("chorus {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Genconfig) => genconfig(&cli),
        Some(Command::Defaultconfig(args)) => {
            print!(
                "{}",
                ServerConfig::default().to_string_format(args.format.into())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Checkconfig(args)) => checkconfig(&cli, args),
        Some(Command::Gentoken(args)) => gentoken(&cli, args),
        Some(Command::Gensubtoken(args)) => gensubtoken(&cli, args),
        Some(Command::Checktoken(args)) => checktoken(&cli, &args.token, false).await,
        Some(Command::Checksubtoken(args)) => checktoken(&cli, &args.token, true).await,
    }
}

/// Loads file + env + flags (not validated).
fn load(cli: &Cli) -> anyhow::Result<LoadedConfig> {
    Ok(cli.global.loader().load()?)
}

/// Loads and validates, printing warnings to stderr.
fn load_valid(cli: &Cli) -> anyhow::Result<LoadedConfig> {
    let loaded = load(cli)?;
    for warning in loaded.warnings() {
        eprintln!("warning: {warning}");
    }
    loaded.config.validate()?;
    Ok(loaded)
}

async fn serve(cli: &Cli) -> anyhow::Result<ExitCode> {
    let loaded = load(cli)?;
    let log = chorus_server::logging::init_logging(&loaded.config.log)?;
    for warning in loaded.warnings() {
        tracing::warn!("{warning}");
    }
    loaded.config.validate()?;
    let pid_file = loaded.config.pid_file.clone();
    if !pid_file.is_empty() {
        std::fs::write(&pid_file, format!("{}\n", std::process::id()))
            .with_context(|| format!("cannot write pid file {pid_file}"))?;
    }
    let info = StartInfo {
        config_file: loaded.file.clone(),
    };
    // Listening starts here, before the server runs, so an early SIGHUP
    // cannot take the default action (terminate).
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hup) => {
            tokio::spawn(reload_on_sighup(
                hup,
                cli.global.loader(),
                loaded.config.clone(),
                log,
            ));
        }
        Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP; config reload is off"),
    }
    #[cfg(not(unix))]
    drop(log);
    server::run_with(loaded.config, info, shutdown_signal()).await?;
    if !pid_file.is_empty() {
        let _ = std::fs::remove_file(&pid_file);
    }
    Ok(ExitCode::SUCCESS)
}

/// Re-reads the configuration on every SIGHUP (instead of the default action,
/// which would kill the process): live keys are applied, the others are logged
/// key by key as needing a restart (see `chorus_server::reload`).
#[cfg(unix)]
async fn reload_on_sighup(
    mut hup: tokio::signal::unix::Signal,
    loader: chorus_server::config::ConfigLoader,
    mut running: ServerConfig,
    log: chorus_server::logging::LogHandle,
) {
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        let new = loader.load().and_then(|loaded| {
            loaded.config.validate()?;
            Ok(loaded.config)
        });
        match new {
            Ok(new) => {
                chorus_server::reload::apply(&mut running, &new, &log);
            }
            Err(e) => chorus_server::reload::log_failure(&e),
        }
    }
}

/// Completes on the first SIGINT or SIGTERM (graceful shutdown starts); a second
/// one exits at once, without waiting for the drain.
async fn shutdown_signal() {
    signal().await;
    tokio::spawn(async {
        signal().await;
        exit_now();
    });
}

/// The operator signalled twice: skip the rest of the drain on purpose.
#[allow(clippy::exit)]
fn exit_now() -> ! {
    eprintln!("second signal: exiting without waiting for the graceful shutdown");
    std::process::exit(1)
}

/// Completes on SIGINT or SIGTERM.
async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn genconfig(cli: &Cli) -> anyhow::Result<ExitCode> {
    let (path, _) = cli.global.config_path();
    let format = ConfigFormat::from_path(&path).with_context(|| {
        format!(
            "unsupported config file extension for {} (use .json, .yaml, .yml or .toml)",
            path.display()
        )
    })?;
    let secret = || uuid::Uuid::new_v4().to_string();
    let minimal = json!({
        "client": {
            "token": { "hmac_secret_key": secret() },
            "allowed_origins": []
        },
        "admin": { "password": secret(), "secret": secret() },
        "http_api": { "key": secret() }
    });
    let text = ServerConfig::value_to_string(&minimal, format)?;
    write_new(&path, &text)?;
    println!("{} created", path.display());
    Ok(ExitCode::SUCCESS)
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!("{} already exists, not overwriting it", path.display())
            } else {
                anyhow::Error::new(e).context(format!("cannot create {}", path.display()))
            }
        })?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

fn checkconfig(cli: &Cli, args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(cli)?;
    let mut failed = false;
    let problems = loaded.config.problems();
    if !problems.is_empty() {
        eprintln!(
            "{}",
            chorus_server::config::ServerConfigError::Invalid(problems)
        );
        failed = true;
    }
    let unknown: Vec<String> = loaded
        .unknown_keys
        .iter()
        .cloned()
        .chain(
            loaded
                .unknown_env
                .iter()
                .map(|v| format!("environment variable {v}")),
        )
        .collect();
    if !unknown.is_empty() {
        if args.strict {
            eprintln!(
                "{}",
                chorus_server::config::ServerConfigError::UnknownKeys(unknown)
            );
            failed = true;
        } else {
            for warning in loaded.warnings() {
                eprintln!("warning: {warning}");
            }
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    match &loaded.file {
        Some(path) => println!("configuration {} is valid", path.display()),
        None => println!("no configuration file found; defaults are valid"),
    }
    Ok(ExitCode::SUCCESS)
}

fn hmac_secret(config: &ServerConfig, subscription: bool) -> anyhow::Result<String> {
    let token = if subscription && config.client.subscription_token.enabled {
        &config.client.subscription_token.token
    } else {
        &config.client.token
    };
    if token.hmac_secret_key.is_empty() {
        bail!(
            "no HMAC secret key configured (client.token.hmac_secret_key); run `chorus genconfig` first"
        );
    }
    Ok(token.hmac_secret_key.clone())
}

fn ttl_text(ttl: i64) -> String {
    if ttl > 0 {
        format!("with expiration TTL {}", GoDuration::from_secs(ttl))
    } else {
        "without expiration".to_owned()
    }
}

fn gentoken(cli: &Cli, args: &GenTokenArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_valid(cli)?;
    let secret = hmac_secret(&loaded.config, false)?;
    let token = auth::hs256_connect_token(
        &secret,
        &ConnectTokenOptions {
            user: args.user.clone(),
            ttl_seconds: Some(args.ttl),
            ..ConnectTokenOptions::default()
        },
    )?;
    if args.quiet {
        println!("{token}");
    } else {
        println!(
            "HMAC SHA-256 JWT for user \"{}\" {}:\n{token}",
            args.user,
            ttl_text(args.ttl)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn gensubtoken(cli: &Cli, args: &GenSubTokenArgs) -> anyhow::Result<ExitCode> {
    if args.channel.is_empty() {
        bail!("channel is required (-s)");
    }
    let loaded = load_valid(cli)?;
    let secret = hmac_secret(&loaded.config, true)?;
    let token = auth::hs256_subscribe_token(&secret, &args.user, &args.channel, Some(args.ttl))?;
    if args.quiet {
        println!("{token}");
    } else {
        println!(
            "HMAC SHA-256 JWT for user \"{}\" and channel \"{}\" {}:\n{token}",
            args.user,
            args.channel,
            ttl_text(args.ttl)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn checktoken(cli: &Cli, token: &str, subscription: bool) -> anyhow::Result<ExitCode> {
    let loaded = load_valid(cli)?;
    let verifier = JwtVerifier::from_config(&loaded.config.client)?;
    let (user, exp, channel) = if subscription {
        match verifier.verify_subscribe(token).await {
            Ok(c) => (c.sub.clone(), c.subscription_expires_at(), Some(c.channel)),
            Err(e) => {
                eprintln!("token is not valid: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    } else {
        match verifier.verify_connect(token).await {
            Ok(c) => (c.sub.clone(), c.connection_expires_at(), None),
            Err(e) => {
                eprintln!("token is not valid: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    };
    let expiry = match exp {
        Some(t) => format!("expires at {t} (Unix time)"),
        None => "never expires".to_owned(),
    };
    match channel {
        Some(ch) => {
            println!("valid subscription token for user \"{user}\" and channel \"{ch}\", {expiry}");
        }
        None => println!("valid token for user \"{user}\", {expiry}"),
    }
    Ok(ExitCode::SUCCESS)
}
