//! The `hookgate` command line: parse arguments, load config, start telemetry, run.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookgate::registry::Snapshot;
use hookgate::telemetry::{self, LogFormat};
use hookgate::Server;

/// Exit status for an unusable config (sysexits' EX_USAGE... EX_DATAERR family).
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(name = "hookgate", version, about = "Webhook forwarding proxy")]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        env = "HOOKGATE_LOG_FORMAT",
        value_enum,
        default_value = "json"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How `check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CheckFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Serve {
        /// Config file.
        #[arg(long, short, env = "HOOKGATE_CONFIG", default_value = "config/hookgate.yaml")]
        config: PathBuf,
        /// Start even if secrets take the `${VAR:-default}` defaults written in the
        /// config (to try a shipped config out; anyone who can read it knows them).
        #[arg(long)]
        allow_default_secrets: bool,
        /// This instance's name to a shared (Redis) store: its consumer in the
        /// delivery streams. Unique among running instances, and the same across
        /// restarts of one (default: the host name and the listen port).
        #[arg(long, env = "HOOKGATE_INSTANCE_ID")]
        instance_id: Option<String>,
    },
    /// Validate a config file and print its routes and targets.
    Check {
        /// Config file.
        #[arg(long, short, env = "HOOKGATE_CONFIG", default_value = "config/hookgate.yaml")]
        config: PathBuf,
        /// `text` for people; `json` (one document on stdout: every error and
        /// warning with its path, line and column) for editors and CI.
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Print the config file's JSON Schema, for editors (a `# yaml-language-server:
    /// $schema=...` comment) and CI checks.
    Schema,
    /// Print a curl command whose request a route's checks accept.
    Sign {
        /// Config file.
        #[arg(long, short, env = "HOOKGATE_CONFIG", default_value = "config/hookgate.yaml")]
        config: PathBuf,
        /// Route name.
        #[arg(long)]
        route: String,
        /// File holding the body to send.
        #[arg(long)]
        body: PathBuf,
        /// Path parameter, NAME=VALUE (repeatable).
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// The provider's PEM private key, for routes checked by JWT.
        #[arg(long)]
        private_key: Option<PathBuf>,
        /// Base URL of hookgate (default from the config's `listen`).
        #[arg(long)]
        url: Option<String>,
    },
    /// List, show, replay or discard dead letters: through the admin API of the
    /// hookgate running on the config (its store is in use), or in the store itself
    /// when none runs.
    Dlq {
        #[command(flatten)]
        api: AdminApi,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// List or show logged events (every admitted event, kept for
    /// `store.retention`) with their deliveries' states: through the admin API of the
    /// hookgate running on the config, or in the store itself when none runs.
    Events {
        #[command(flatten)]
        api: AdminApi,
        #[command(subcommand)]
        action: EventsAction,
    },
    /// Ask a running hookgate to read its config file again (`POST /reload` on its
    /// admin listener); the new file is validated first and, if invalid, changes
    /// nothing.
    Reload {
        /// Config file (its `admin.listen` says where to send the request).
        #[arg(long, short, env = "HOOKGATE_CONFIG", default_value = "config/hookgate.yaml")]
        config: PathBuf,
        /// Admin listener address, instead of the config's `admin.listen`.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Admin API token with the `admin` role (default: the config's first such
        /// token, which this host can read).
        #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Ask a running hookgate whether it is alive (`/healthz`) or ready (`/readyz`):
    /// exit 0 if so, 1 if not. For container health checks (no curl needed).
    Health {
        /// Config file (its `admin.listen` says where to ask).
        #[arg(long, short, env = "HOOKGATE_CONFIG", default_value = "config/hookgate.yaml")]
        config: PathBuf,
        /// Admin listener address, instead of the config's `admin.listen`.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Ask whether it is ready (its store answers) rather than alive.
        #[arg(long)]
        ready: bool,
    },
    /// Run a backend that prints every request it receives (for trying hookgate out).
    Receive {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
        /// Status to answer with.
        #[arg(long, default_value_t = 200)]
        status: u16,
        /// Name printed before each request.
        #[arg(long, default_value = "receiver")]
        name: String,
        /// Print bodies exactly as received (JSON is pretty-printed otherwise).
        #[arg(long)]
        raw: bool,
    },
}

/// Where `dlq` and `events` find the running hookgate (or its store).
#[derive(clap::Args)]
struct AdminApi {
    /// Config file (its `admin` and `store` sections are used).
    #[arg(
        long,
        short,
        env = "HOOKGATE_CONFIG",
        default_value = "config/hookgate.yaml",
        global = true
    )]
    config: PathBuf,
    /// Admin listener of the running hookgate, instead of the config's
    /// `admin.listen` (then it must answer).
    #[arg(long, global = true)]
    admin: Option<SocketAddr>,
    /// Admin API token (default: the config's first token with the `operator` or
    /// `admin` role, else, for `events`, one with `viewer`).
    #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead letters, oldest first.
    List {
        #[command(flatten)]
        filter: DlqFilter,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter, its body and last attempt included, as JSON.
    Show {
        /// Its id.
        id: String,
    },
    /// Put dead letters back in their queues, attempts reset.
    Replay {
        #[command(flatten)]
        filter: DlqFilter,
        /// Replay every dead letter when no other filter is given.
        #[arg(long)]
        all: bool,
    },
    /// Delete dead letters for good.
    Discard {
        #[command(flatten)]
        filter: DlqFilter,
        /// Discard every dead letter when no other filter is given.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum EventsAction {
    /// List logged events, oldest first: e.g. what a partner missed between two
    /// times (`--route tradevest --since 2026-12-01T10:00:00Z --until ...`).
    List {
        /// Only this route's.
        #[arg(long)]
        route: Option<String>,
        /// Received since: RFC 3339 time or a duration ago (`2h`).
        #[arg(long, value_parser = hookgate::dlq::parse_time)]
        since: Option<u64>,
        /// Received before: RFC 3339 time or a duration ago.
        #[arg(long, value_parser = hookgate::dlq::parse_time)]
        until: Option<u64>,
        /// Only those in this state: `pending`, `delivered` or `dead`.
        #[arg(long, value_parser = parse_state)]
        state: Option<hookgate::store::DeliveryState>,
        /// Only the event with this dedupe key.
        #[arg(long)]
        dedupe_key: Option<String>,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print each event as a JSON line (bodies included) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one logged event, its body and deliveries included, as JSON.
    Show {
        /// Its id.
        id: String,
    },
}

/// `pending`, `delivered` or `dead`.
fn parse_state(text: &str) -> Result<hookgate::store::DeliveryState, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("expected `pending`, `delivered` or `dead`, found `{text}`"))
}

#[derive(clap::Args)]
struct DlqFilter {
    /// Only these delivery ids (repeatable).
    #[arg(long = "id")]
    ids: Vec<String>,
    /// Only this route.
    #[arg(long)]
    route: Option<String>,
    /// Only this target.
    #[arg(long)]
    target: Option<String>,
    /// Dead-lettered since: RFC 3339 time or a duration ago (`2h`).
    #[arg(long, value_parser = hookgate::dlq::parse_time)]
    since: Option<u64>,
    /// Dead-lettered before: RFC 3339 time or a duration ago.
    #[arg(long, value_parser = hookgate::dlq::parse_time)]
    until: Option<u64>,
    /// Only those whose reason contains this text (any case).
    #[arg(long)]
    reason: Option<String>,
}

impl DlqFilter {
    fn into_filter(self) -> hookgate::store::DeadLetterFilter {
        hookgate::store::DeadLetterFilter {
            ids: self.ids,
            route: self.route,
            target: self.target,
            since_ms: self.since,
            until_ms: self.until,
            reason: self.reason,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hookgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            config,
            format: CheckFormat::Json,
        } => {
            let (errors, warnings) = match hookgate::config::load(&config) {
                Ok(snapshot) => (Vec::new(), default_secret_warnings(&snapshot)),
                Err(errors) => (errors.errors, Vec::new()),
            };
            let diagnostic = |severity: &str, error: &hookgate::config::ConfigError| {
                serde_json::json!({
                    "severity": severity,
                    "path": error.path,
                    "line": error.location.map(|at| at.line),
                    "column": error.location.map(|at| at.column),
                    "message": error.message,
                })
            };
            let report = serde_json::json!({
                "file": config.display().to_string(),
                "valid": errors.is_empty(),
                "diagnostics": errors.iter().map(|e| diagnostic("error", e))
                    .chain(warnings.iter().map(|w| diagnostic("warning", w)))
                    .collect::<Vec<_>>(),
            });
            writeln!(std::io::stdout().lock(), "{report}")?;
            Ok(if errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_CONFIG)
            })
        }
        Command::Check { config, .. } => Ok(match load(&config) {
            Ok(snapshot) => {
                let mut out = std::io::stdout().lock();
                write!(out, "{}", hookgate::config::summary(&snapshot))?;
                // One warning per variable, however many secrets use it.
                let mut by_variables: Vec<(&Vec<String>, Vec<&str>)> = Vec::new();
                for (path, variables) in &snapshot.default_secrets {
                    match by_variables.iter_mut().find(|(known, _)| *known == variables) {
                        Some((_, paths)) => paths.push(path),
                        None => by_variables.push((variables, vec![path])),
                    }
                }
                for (variables, paths) in by_variables {
                    eprintln!(
                        "{}: warning: {}: {}",
                        config.display(),
                        paths.join(", "),
                        hookgate::config::default_secret(variables)
                    );
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        }),
        Command::Serve {
            config,
            allow_default_secrets,
            instance_id,
        } => {
            let source = if allow_default_secrets {
                hookgate::config::File::allowing_default_secrets(config)
            } else {
                hookgate::config::File::new(config)
            };
            serve(source, instance_id, cli.log_format)
        }
        Command::Sign {
            config,
            route,
            body,
            params,
            private_key,
            url,
        } => {
            let config = match load(&config) {
                Ok(config) => config,
                Err(code) => return Ok(code),
            };
            let key = private_key
                .map(|path| std::fs::read(&path).with_context(|| format!("reading {}", path.display())))
                .transpose()?;
            let options = hookgate::sign::SignOptions {
                route: &route,
                body_path: &body,
                params: &params,
                private_key: key.as_deref(),
                base_url: url.as_deref(),
            };
            let command = hookgate::sign::curl_command(&config, &options).map_err(anyhow::Error::msg)?;
            std::io::stdout().lock().write_all(command.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dlq { api, action } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(dead_letters(&api.config, api.admin, api.token, action))
        }
        Command::Events { api, action } => {
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(events(&api.config, api.admin, api.token, action))
        }
        Command::Reload { config, admin, token } => {
            let admin = match admin {
                Some(admin) => admin,
                None => admin_of(&config)?,
            };
            let token = match token {
                Some(token) => Some(token),
                None => hookgate::config::admin_token(&config, hookgate::model::Role::Admin)
                    .map_err(anyhow::Error::msg)?,
            };
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(request_reload(admin, token))
        }
        Command::Health { config, admin, ready } => {
            let mut admin = match admin {
                Some(admin) => admin,
                None => admin_of(&config)?,
            };
            // A listener bound to every address (0.0.0.0 in a container) is asked on
            // loopback.
            if admin.ip().is_unspecified() {
                admin.set_ip(match admin {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(health(admin, if ready { "/readyz" } else { "/healthz" }))
        }
        Command::Schema => {
            let text = serde_json::to_string_pretty(&hookgate::config::schema())?;
            writeln!(std::io::stdout().lock(), "{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Receive {
            listen,
            status,
            name,
            raw,
        } => {
            let status = http::StatusCode::from_u16(status).context("--status must be 100..=999")?;
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime
                .block_on(hookgate::receiver::run(
                    listen,
                    status,
                    name,
                    if raw {
                        hookgate::receiver::Bodies::Raw
                    } else {
                        hookgate::receiver::Bodies::Pretty
                    },
                    std::io::stdout(),
                    shutdown_signal(),
                ))
                .with_context(|| format!("receiving on {listen}"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `hookgate serve`: runs until SIGTERM or SIGINT, reloading on SIGHUP.
fn serve(
    source: hookgate::config::File,
    instance_id: Option<String>,
    log_format: LogFormat,
) -> anyhow::Result<ExitCode> {
    use hookgate::reload::Source;
    let mut config = match source.load() {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    config.settings.instance_id = instance_id;
    let path = source.path().to_owned();
    // Held until serve returns, so buffered log lines are written before exit.
    let _logs = telemetry::init(log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        // Taken before anything slow (the store's connection), so a SIGHUP while
        // starting is a reload, not the signal's default: the end of the process.
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        let (routes, targets, hash) = (config.routes.len(), config.targets.len(), config.hash.clone());
        let tls = config.settings.tls.as_ref().map(|tls| tls.fingerprint.clone());
        let server = Server::bind(config, std::sync::Arc::new(source)).await?;
        tracing::info!(
            listen = %server.local_addr()?,
            admin = server.admin_addr().map(tracing::field::display),
            routes,
            targets,
            config = %path.display(),
            hash = %hash,
            tls_certificate_sha256 = tls,
            "hookgate listening"
        );
        match hangups {
            Ok(hangups) => {
                tokio::spawn(reload_on_hangup(hangups, server.reloader()));
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; reload with POST /reload instead")
            }
        }
        server.run(shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    // The server has drained; idle pool threads (DNS lookups, the store's closing)
    // get a moment, not their keep-alive of several seconds.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(ExitCode::SUCCESS)
}

/// A warning for each secret that takes a default written in the config.
fn default_secret_warnings(snapshot: &Snapshot) -> Vec<hookgate::config::ConfigError> {
    snapshot
        .default_secrets
        .iter()
        .map(|(path, variables)| hookgate::config::ConfigError {
            path: path.clone(),
            location: None,
            message: hookgate::config::default_secret(variables),
        })
        .collect()
}

/// Where the admin listener of the config at `path` is.
fn admin_of(path: &std::path::Path) -> anyhow::Result<SocketAddr> {
    hookgate::config::admin_listen(path)
        .map_err(anyhow::Error::msg)?
        .with_context(|| {
            format!(
                "{} has no `admin` section, so hookgate has no admin listener: pass --admin, or send SIGHUP to the hookgate process",
                path.display()
            )
        })
}

/// The config at `path`, or the exit code after printing why it is unusable.
fn load(path: &std::path::Path) -> Result<Snapshot, ExitCode> {
    hookgate::config::load(path).map_err(|errors| {
        eprint!("{errors}");
        ExitCode::from(EXIT_CONFIG)
    })
}

async fn dead_letters(
    path: &std::path::Path,
    admin: Option<SocketAddr>,
    token: Option<String>,
    action: DlqAction,
) -> anyhow::Result<ExitCode> {
    let source = match dlq_source(path, admin, token).await? {
        Ok(source) => source,
        Err(code) => return Ok(code),
    };
    let mut out = std::io::stdout().lock();
    let bulk = |filter: DlqFilter, all: bool, bulk: hookgate::dlq::Bulk| {
        let filter = filter.into_filter();
        if filter == hookgate::store::DeadLetterFilter::default() && !all {
            anyhow::bail!(
                "name the dead letters (--id, --route, --target, --since, --until, --reason) or pass --all"
            );
        }
        Ok((filter, bulk))
    };
    let (filter, action) = match action {
        DlqAction::List { filter, limit } => {
            let dead = source.list(&filter.into_filter(), limit).await?;
            out.write_all(hookgate::dlq::render(&dead).as_bytes())?;
            return Ok(ExitCode::SUCCESS);
        }
        DlqAction::Show { id } => {
            let dead = source.show(&id).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&dead)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        DlqAction::Replay { filter, all } => bulk(filter, all, hookgate::dlq::Bulk::Replay)?,
        DlqAction::Discard { filter, all } => bulk(filter, all, hookgate::dlq::Bulk::Discard)?,
    };
    let count = source.bulk(&filter, action).await?;
    let done = match action {
        hookgate::dlq::Bulk::Replay => "replayed",
        hookgate::dlq::Bulk::Discard => "discarded",
    };
    writeln!(
        out,
        "{count} dead letter{} {done}",
        if count == 1 { "" } else { "s" }
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn events(
    path: &std::path::Path,
    admin: Option<SocketAddr>,
    token: Option<String>,
    action: EventsAction,
) -> anyhow::Result<ExitCode> {
    let token = match token {
        Some(token) => Some(token),
        None => match hookgate::config::admin_token(path, hookgate::model::Role::Operator)
            .map_err(anyhow::Error::msg)?
        {
            Some(token) => Some(token),
            None => hookgate::config::admin_token(path, hookgate::model::Role::Viewer)
                .map_err(anyhow::Error::msg)?,
        },
    };
    let source = match dlq_source(path, admin, token).await? {
        Ok(source) => source,
        Err(code) => return Ok(code),
    };
    let mut out = std::io::stdout().lock();
    match action {
        EventsAction::List {
            route,
            since,
            until,
            state,
            dedupe_key,
            limit,
            json,
        } => {
            let filter = hookgate::store::EventFilter {
                route,
                since_ms: since,
                until_ms: until,
                dedupe_key,
                state,
            };
            let events = source.events(&filter, limit).await?;
            if json {
                for event in &events {
                    writeln!(out, "{}", serde_json::to_string(event)?)?;
                }
            } else {
                out.write_all(hookgate::dlq::render_events(&events).as_bytes())?;
            }
        }
        EventsAction::Show { id } => {
            let event = source.event(&id).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&event)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The admin API of the hookgate running on the config at `path` when one answers
/// (or `admin` must), else the store itself.
async fn dlq_source(
    path: &std::path::Path,
    admin: Option<SocketAddr>,
    token: Option<String>,
) -> anyhow::Result<Result<hookgate::dlq::Source, ExitCode>> {
    let explicit = admin.is_some();
    let admin = match admin {
        Some(admin) => Some(admin),
        None => hookgate::config::admin_listen(path).map_err(anyhow::Error::msg)?,
    };
    if let Some(mut admin) = admin {
        if admin.ip().is_unspecified() {
            admin.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let connect = tokio::net::TcpStream::connect(admin);
        let answers = matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), connect).await,
            Ok(Ok(_))
        );
        if answers {
            let token = match token {
                Some(token) => Some(token),
                None => hookgate::config::admin_token(path, hookgate::model::Role::Operator)
                    .map_err(anyhow::Error::msg)?,
            };
            eprintln!("hookgate: through the admin API of the hookgate at {admin}");
            return Ok(Ok(hookgate::dlq::Source::Api {
                base: format!("http://{admin}"),
                token,
                client: Box::new(hookgate::delivery::build_client(None)),
            }));
        }
        if explicit {
            anyhow::bail!("no hookgate answers at {admin}");
        }
    }
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return Ok(Err(code)),
    };
    let consumer = format!("hookgate-dlq-{}", std::process::id());
    let store = hookgate::store::open::open(&config.settings.store, &consumer)
        .await
        .context(
            "opening the store (a running hookgate holds the embedded store: give its config an `admin` section with a token, and this command asks it instead)",
        )?;
    Ok(Ok(hookgate::dlq::Source::Store(
        store,
        std::sync::Arc::new(config),
    )))
}

/// `name=value`.
fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, found `{text}`"))
}

/// `hookgate reload`: posts to the admin listener and prints what it answered.
/// `hookgate health`: GET `path` on the admin listener; 0 on a 2xx, 1 otherwise.
async fn health(admin: SocketAddr, path: &str) -> anyhow::Result<ExitCode> {
    let client = hookgate::delivery::build_client(None);
    let request = http::Request::get(format!("http://{admin}{path}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .context("building the request")?;
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), client.request(request)).await;
    let mut out = std::io::stdout().lock();
    match answer {
        Ok(Ok(response)) if response.status().is_success() => {
            writeln!(out, "{path}: {}", response.status())?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(Ok(response)) => {
            writeln!(out, "{path}: {}", response.status())?;
            Ok(ExitCode::FAILURE)
        }
        Ok(Err(error)) => {
            writeln!(out, "{path}: cannot reach the admin listener at {admin}: {error}")?;
            Ok(ExitCode::FAILURE)
        }
        Err(_) => {
            writeln!(out, "{path}: no answer from {admin} within 5 s")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn request_reload(admin: SocketAddr, token: Option<String>) -> anyhow::Result<ExitCode> {
    use http_body_util::BodyExt;
    let client = hookgate::delivery::build_client(None);
    let mut request = http::Request::post(format!("http://{admin}/reload"));
    if let Some(token) = token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .context("building the request")?;
    let response = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(request))
        .await
        .context("no answer from the admin listener within 30 s")?
        .with_context(|| {
            format!(
                "cannot reach the admin listener at {admin}; is hookgate running with an `admin` section?"
            )
        })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the answer")?
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status.is_success() {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "config reloaded: hash {}{}",
            answer["hash"].as_str().unwrap_or("?"),
            if answer["changed"] == false {
                " (unchanged)"
            } else {
                ""
            }
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "hookgate: reload refused: {}",
        answer["detail"]
            .as_str()
            .unwrap_or("the admin listener answered with an error")
    );
    for error in answer["errors"].as_array().into_iter().flatten() {
        let at = match (
            error["location"]["line"].as_u64(),
            error["location"]["column"].as_u64(),
        ) {
            (Some(line), Some(column)) => format!("{line}:{column}: "),
            _ => String::new(),
        };
        eprintln!(
            "  {at}{}: {}",
            error["path"].as_str().unwrap_or(""),
            error["message"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::from(if status.is_client_error() {
        EXIT_CONFIG
    } else {
        1
    }))
}

/// Reloads the config on every SIGHUP, for the life of the process.
async fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    reloader: std::sync::Arc<hookgate::reload::Reloader>,
) {
    while hangups.recv().await.is_some() {
        // The outcome is logged and counted by the reloader.
        let _ = reloader.reload("SIGHUP").await;
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops hookgate");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "shutdown requested"),
        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutdown requested"),
    }
}
