//! `sluice serve`: the HTTP API, the background workers (split, chunks, finalize, delivery) and
//! the drop folder, in one process over the embedded backends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sluice_app::usecases::DeliveryConfig;
use sluice_http::{ApiConfig, ApiState, HttpWebhookSender, JwtConfig, LocalUploads};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::LocalRuntime;
use crate::drop::DropFolder;
use crate::secrets::LocalSecrets;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (port 0 picks a free one).
    pub addr: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Let webhook destinations resolve to private and loopback addresses.
    pub allow_private_webhooks: bool,
    /// Worker tasks draining the queue.
    pub workers: usize,
    /// Base of the upload URLs handed out (default: `http://` and the bound address).
    pub public_url: Option<String>,
    /// How bearer tokens are verified (default: HS256 with the data directory's key).
    pub jwt: Option<JwtConfig>,
    /// Webhook batching and retries.
    pub delivery: DeliveryConfig,
    /// How often the drop folder is scanned (`None`: not watched).
    pub drop_interval: Option<Duration>,
    /// API limits.
    pub api: ApiConfig,
}

impl ServeOptions {
    /// Defaults for a data directory.
    pub fn new(addr: SocketAddr, data_dir: &Path) -> ServeOptions {
        ServeOptions {
            addr,
            data_dir: data_dir.to_path_buf(),
            allow_private_webhooks: false,
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            public_url: None,
            jwt: None,
            delivery: DeliveryConfig::default(),
            drop_interval: Some(Duration::from_secs(1)),
            api: ApiConfig::default(),
        }
    }
}

/// Where a running server can be reached, for other commands on the same data directory.
pub fn server_file(data_dir: &Path) -> PathBuf {
    data_dir.join("server.json")
}

/// A running server.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://` and the bound address.
    pub base_url: String,
    /// The runtime behind the API.
    pub runtime: LocalRuntime,
    /// Token verification (and, with the local key, minting).
    pub jwt: Arc<JwtConfig>,
    shutdown: Option<oneshot::Sender<()>>,
    serving: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Server {
    /// Opens the data directory, resumes unfinished work, binds and starts serving.
    pub async fn start(options: ServeOptions) -> anyhow::Result<Server> {
        let secrets = LocalSecrets::load_or_create(&options.data_dir)?;
        let jwt = Arc::new(match options.jwt.clone() {
            Some(jwt) => jwt,
            None => secrets.jwt()?,
        });
        let mut runtime = LocalRuntime::open(&options.data_dir, true)?;
        runtime.app = runtime
            .app
            .clone()
            .with_webhooks(Arc::new(HttpWebhookSender::new(options.allow_private_webhooks)))
            .with_delivery(options.delivery.clone());
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.addr))?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let upload_base = options.public_url.clone().unwrap_or_else(|| base_url.clone());
        let uploads = Arc::new(LocalUploads::new(&secrets.upload_key()?, &upload_base));
        let state = ApiState {
            app: runtime.app.clone(),
            jwt: jwt.clone(),
            uploads: uploads.clone(),
            local_uploads: Some(uploads),
            config: options.api,
        };
        let router = sluice_http::router(state);
        let (tx, rx) = oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        let resumed = runtime.resume().await?;
        if resumed > 0 {
            tracing::info!(imports = resumed, "resumed unfinished imports");
        }
        let mut background = runtime.spawn_workers(options.workers);
        if let Some(interval) = options.drop_interval {
            let folder = DropFolder::open(&options.data_dir)?;
            background.push(tokio::spawn(folder.watch(runtime.clone(), interval)));
        }
        let record = serde_json::json!({ "url": base_url, "pid": std::process::id() });
        std::fs::write(server_file(&options.data_dir), serde_json::to_vec(&record)?)?;
        Ok(Server { addr, base_url, runtime, jwt, shutdown: Some(tx), serving, background })
    }

    /// Stops accepting requests, lets those in flight finish, and stops the workers. Work left
    /// in the queue resumes on the next start.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let served = (&mut self.serving).await;
        for task in &self.background {
            task.abort();
        }
        let _ = std::fs::remove_file(server_file(self.runtime.data_dir()));
        served??;
        Ok(())
    }

    /// Serves until Ctrl-C (or SIGTERM), then stops.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
