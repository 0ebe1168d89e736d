//! `sluice serve`, `sluice token` and `sluice keys create`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sluice_app::TenantId;
use sluice_http::JwtConfig;
use sluice_local::LocalRuntime;
use sluice_local::secrets::LocalSecrets;
use sluice_local::server::{ServeOptions, Server, server_file};

use super::UsageError;

/// Options of `sluice serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Data directory (imports, templates, keys, the drop folder).
    #[arg(long, default_value = "sluice-data")]
    pub data_dir: PathBuf,
    /// Let webhook destinations be on private, loopback and link-local addresses.
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// Base of the upload URLs handed out, when clients reach this server by another address.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Verify bearer tokens with this RS256 public key (PEM) instead of the local HS256 key.
    #[arg(long, requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwt_public_key: Option<PathBuf>,
    /// Required `iss` of RS256 tokens.
    #[arg(long)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of RS256 tokens.
    #[arg(long)]
    pub jwt_audience: Option<String>,
    /// Worker tasks (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Do not watch the drop folder.
    #[arg(long)]
    pub no_drop_folder: bool,
}

/// Options of `sluice token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Tenant the token acts for.
    #[arg(long)]
    pub tenant: String,
    /// Environment the token acts in.
    #[arg(long, default_value = "production")]
    pub env: String,
    /// Data directory whose key signs the token.
    #[arg(long, default_value = "sluice-data")]
    pub data_dir: PathBuf,
    /// Subject (who the token is for).
    #[arg(long, default_value = "cli")]
    pub subject: String,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 24)]
    pub ttl_hours: u32,
}

/// Options of `sluice keys create`.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// Tenant the key acts for.
    #[arg(long)]
    pub tenant: String,
    /// Environment the key acts in.
    #[arg(long, default_value = "production")]
    pub env: String,
    /// Data directory.
    #[arg(long, default_value = "sluice-data")]
    pub data_dir: PathBuf,
    /// A name to recognise the key by.
    #[arg(long)]
    pub name: Option<String>,
}

fn check_scope(tenant: &str, env: &str) -> Result<TenantId, UsageError> {
    let tenant = TenantId::parse(tenant)
        .ok_or_else(|| UsageError(format!("--tenant {tenant:?}: use 1-64 letters, digits, '-' or '_'")))?;
    if !sluice_http::auth::valid_environment(env) {
        return Err(UsageError(format!("--env {env:?}: use 1-32 lower-case letters, digits or '-'")));
    }
    Ok(tenant)
}

fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(workers.max(1)).enable_all().build()?)
}

/// Runs `sluice serve`.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let workers =
        args.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)).max(1);
    let mut options = ServeOptions::new(args.addr, &args.data_dir);
    options.allow_private_webhooks = args.allow_private_webhooks;
    options.public_url = args.public_url.clone();
    options.workers = workers;
    if args.no_drop_folder {
        options.drop_interval = None;
    }
    if let Some(path) = &args.jwt_public_key {
        let pem = std::fs::read(path).map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        let (issuer, audience) =
            (args.jwt_issuer.clone().unwrap_or_default(), args.jwt_audience.clone().unwrap_or_default());
        options.jwt =
            Some(JwtConfig::rs256(&pem, &issuer, &audience).map_err(|e| UsageError(format!("--jwt-public-key: {e}")))?);
    }
    runtime(workers)?.block_on(async move {
        let server = Server::start(options).await?;
        let dir = args.data_dir.display();
        println!("Sluice listening on {} (data in {dir})", server.base_url);
        println!("  API reference: {}/docs  (OpenAPI: {}/openapi.json)", server.base_url, server.base_url);
        if !args.no_drop_folder {
            println!("  Drop folder:   {dir}/drop/{{tenant}}/{{template}}/  (imports into production)");
        }
        if args.jwt_public_key.is_none() {
            let token = server.jwt.mint("dev", "dev", "production", 24 * 3600).map_err(anyhow::Error::msg)?;
            println!("  Dev token (tenant dev, environment production, valid 24 h):");
            println!("    {token}");
            println!("  More tokens:   sluice token --tenant T --env production --data-dir {dir}");
            println!("  API keys:      sluice keys create --tenant T --env production --data-dir {dir}");
        } else {
            println!(
                "  Bearer tokens: RS256, verified with {}",
                args.jwt_public_key.as_deref().unwrap_or(Path::new("")).display()
            );
        }
        server.run_until_signal().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `sluice token`: one token on stdout.
pub fn token(args: TokenArgs) -> anyhow::Result<ExitCode> {
    check_scope(&args.tenant, &args.env)?;
    if args.ttl_hours == 0 {
        return Err(UsageError("--ttl-hours must be at least 1".into()).into());
    }
    let secrets = LocalSecrets::load_or_create(&args.data_dir)?;
    let jwt = secrets.jwt()?;
    let token = jwt
        .mint(&args.subject, &args.tenant, &args.env, i64::from(args.ttl_hours) * 3600)
        .map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// Runs `sluice keys create`: the key on stdout (shown this once; only its hash is kept).
pub fn create_key(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let tenant = check_scope(&args.tenant, &args.env)?;
    runtime(1)?.block_on(async move {
        // A running server holds the database: ask it.
        if let Some(url) = running_server(&args.data_dir).await {
            let secrets = LocalSecrets::load_or_create(&args.data_dir)?;
            let token =
                secrets.jwt()?.mint("sluice-keys", tenant.as_str(), &args.env, 300).map_err(anyhow::Error::msg)?;
            let response = reqwest::Client::new()
                .post(format!("{url}/v1/api-keys"))
                .bearer_auth(token)
                .json(&serde_json::json!({ "name": args.name }))
                .send()
                .await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await?;
            if !status.is_success() {
                anyhow::bail!("the server at {url} answered {status}: {}", body["detail"].as_str().unwrap_or_default());
            }
            println!("{}", body["key"].as_str().unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        let runtime = LocalRuntime::open(&args.data_dir, true)?;
        let (key, _) = runtime.app.create_api_key(&tenant, &args.env, args.name).await?;
        println!("{key}");
        Ok(ExitCode::SUCCESS)
    })
}

/// The URL of a server running on a data directory, if one answers.
async fn running_server(data_dir: &Path) -> Option<String> {
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(server_file(data_dir)).ok()?).ok()?;
    let url = record["url"].as_str()?.to_string();
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(2)).build().ok()?;
    let ok = client.get(format!("{url}/healthz")).send().await.ok()?.status().is_success();
    ok.then_some(url)
}
