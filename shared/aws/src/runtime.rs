//! The use cases over the AWS adapters, built once per cold start.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use sluice_app::App;
use sluice_app::ports::SystemClock;
use sluice_http::{ApiConfig, ApiState, HttpWebhookSender, JwtConfig};

use crate::config::{JwtKey, Settings};
use crate::dynamo::DynamoStore;
use crate::s3::{S3BlobStore, S3Uploads};
use crate::sqs::SqsJobQueue;

/// Sluice on AWS.
#[derive(Clone)]
pub struct AwsRuntime {
    /// The use cases.
    pub app: App,
    /// The settings read at start.
    pub settings: Settings,
    /// The bucket.
    pub blobs: S3BlobStore,
    /// The queues.
    pub queue: SqsJobQueue,
    /// The table.
    pub table: DynamoStore,
    sdk: SdkConfig,
}

impl std::fmt::Debug for AwsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsRuntime").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The SDK configuration of the environment (region, credentials, and `AWS_ENDPOINT_URL` to
/// point everything at an emulator).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

impl AwsRuntime {
    /// Reads the settings from the environment and builds the adapters; a configuration fault
    /// stops here, before any event is taken.
    pub async fn from_env() -> anyhow::Result<AwsRuntime> {
        let settings = Settings::from_env()?;
        Ok(AwsRuntime::new(&sdk_config().await, settings))
    }

    /// Builds the adapters over an SDK configuration.
    pub fn new(sdk: &SdkConfig, settings: Settings) -> AwsRuntime {
        // Path-style addressing where an endpoint is given: emulators serve buckets at paths.
        let path_style = sdk.endpoint_url().is_some();
        let s3 =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build());
        let blobs = S3BlobStore::new(s3, settings.bucket.clone());
        let table =
            DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), settings.table.clone(), settings.retention_days);
        let queue = SqsJobQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            settings.split_queue_url.clone(),
            settings.chunk_queue_url.clone(),
            settings.delivery_queue_url.clone(),
        );
        let app = App::new(
            Arc::new(blobs.clone()),
            Arc::new(table.clone()),
            Arc::new(table.clone()),
            Arc::new(queue.clone()),
            Arc::new(SystemClock),
        )
        .with_items(Arc::new(table.clone()))
        .with_webhooks(Arc::new(HttpWebhookSender::new(settings.allow_private_webhooks)));
        AwsRuntime { app, settings, blobs, queue, table, sdk: sdk.clone() }
    }

    /// The token verifier: HS256 with the secret from Secrets Manager, or RS256.
    pub async fn jwt(&self) -> anyhow::Result<JwtConfig> {
        let settings = self.settings.jwt.as_ref().ok_or_else(|| {
            anyhow::anyhow!("configuration:\n  set SLUICE_JWT_ISSUER, SLUICE_JWT_AUDIENCE and SLUICE_JWT_SECRET_ARN or SLUICE_JWT_PUBLIC_KEY")
        })?;
        match &settings.key {
            JwtKey::PublicKey(pem) => {
                JwtConfig::rs256(pem.as_bytes(), &settings.issuer, &settings.audience).map_err(anyhow::Error::msg)
            }
            JwtKey::SecretArn(arn) => {
                let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
                let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the JWT secret {arn}: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    )
                })?;
                let secret =
                    out.secret_string().ok_or_else(|| anyhow::anyhow!("the JWT secret {arn} holds no string"))?;
                if secret.len() < 32 {
                    anyhow::bail!("the JWT secret {arn} is shorter than 32 bytes");
                }
                Ok(JwtConfig::hs256(secret.as_bytes(), &settings.issuer, &settings.audience))
            }
        }
    }

    /// The API's shared state: uploads go to S3 through presigned URLs.
    pub fn api_state(&self, jwt: JwtConfig) -> ApiState {
        ApiState {
            app: self.app.clone(),
            jwt: Arc::new(jwt),
            uploads: Arc::new(S3Uploads::new(self.blobs.clone())),
            local_uploads: None,
            config: ApiConfig { max_upload_bytes: self.settings.max_upload_bytes, ..ApiConfig::default() },
        }
    }
}
