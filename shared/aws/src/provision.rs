//! Creates what `template.yaml` declares, for an emulator (moto) or a scratch account: the
//! table with its index and TTL, the three queues with their dead-letter queues, and the bucket
//! with its upload notifications. Tests give every run its own names.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::config::Settings;

/// Receives before a message goes to its dead-letter queue, as in `template.yaml`.
pub const MAX_RECEIVES: u32 = 5;

/// Names of one deployment.
#[derive(Debug, Clone)]
pub struct Names {
    /// Prefix of every name (`sluice-test-01h…`).
    pub prefix: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str, visibility: u32) -> anyhow::Result<(String, String)> {
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await?;
    let dlq_url = dlq.queue_url().unwrap_or_default().to_string();
    let attrs =
        sqs.get_queue_attributes().queue_url(&dlq_url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    let dlq_arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES }).to_string();
    let main = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await?;
    let url = main.queue_url().unwrap_or_default().to_string();
    let attrs = sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    let arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    Ok((url, arn))
}

/// Creates a deployment's resources and returns the settings that point at them.
pub async fn provision(sdk: &SdkConfig, names: &Names) -> anyhow::Result<Settings> {
    let table = format!("{}-table", names.prefix);
    let bucket = format!("{}-uploads", names.prefix);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
    let attr =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    dynamo
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .attribute_definitions(attr("gsi1pk")?)
        .attribute_definitions(attr("gsi1sk")?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("gsi1")
                .key_schema(key("gsi1pk", KeyType::Hash)?)
                .key_schema(key("gsi1sk", KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()?,
        )
        .send()
        .await?;
    dynamo
        .update_time_to_live()
        .table_name(&table)
        .time_to_live_specification(TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build()?)
        .send()
        .await?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let (split_queue_url, split_arn) = queue(&sqs, &format!("{}-split", names.prefix), 5400).await?;
    let (chunk_queue_url, _) = queue(&sqs, &format!("{}-chunk", names.prefix), 1800).await?;
    let (delivery_queue_url, _) = queue(&sqs, &format!("{}-delivery", names.prefix), 720).await?;

    let path_style = sdk.endpoint_url().is_some();
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build());
    s3.create_bucket().bucket(&bucket).send().await?;
    let notify = |prefix: &str| -> anyhow::Result<QueueConfiguration> {
        Ok(QueueConfiguration::builder()
            .queue_arn(&split_arn)
            .events(Event::from("s3:ObjectCreated:*"))
            .filter(
                NotificationConfigurationFilter::builder()
                    .key(
                        S3KeyFilter::builder()
                            .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build())
                            .build(),
                    )
                    .build(),
            )
            .build()?)
    };
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(notify("uploads/")?)
                .queue_configurations(notify("drop/")?)
                .build(),
        )
        .send()
        .await?;
    Ok(Settings {
        table,
        bucket,
        split_queue_url,
        chunk_queue_url,
        delivery_queue_url,
        max_upload_bytes: 5 * 1024 * 1024 * 1024,
        retention_days: 30,
        max_receives: MAX_RECEIVES,
        allow_private_webhooks: false,
        jwt: None,
    })
}

/// An SDK configuration for an emulator at `endpoint` (static test credentials, us-east-1):
/// nothing is looked up on the network but the emulator.
pub async fn emulator_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "emulator"))
        .load()
        .await
}

/// Plays Lambda's SQS event source: receives a batch, hands it over as the event a function
/// gets, and deletes the messages the function did not report as failed.
#[derive(Debug, Clone)]
pub struct EventSource {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl EventSource {
    /// The queue at `url`.
    pub fn new(sdk: &SdkConfig, url: &str) -> EventSource {
        EventSource { client: aws_sdk_sqs::Client::new(sdk), url: url.to_string() }
    }

    /// Receives up to `max` messages (1-10), waiting at most `wait_seconds` for the first.
    pub async fn receive(
        &self,
        max: i32,
        wait_seconds: i32,
    ) -> anyhow::Result<aws_lambda_events::event::sqs::SqsEvent> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await?;
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        for m in out.messages() {
            let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
            message.message_id = m.message_id().map(String::from);
            message.receipt_handle = m.receipt_handle().map(String::from);
            message.body = m.body().map(String::from);
            message.event_source = Some("aws:sqs".into());
            if let Some(attrs) = m.attributes() {
                for (k, v) in attrs {
                    message.attributes.insert(k.as_str().to_string(), v.clone());
                }
            }
            event.records.push(message);
        }
        Ok(event)
    }

    /// Deletes the messages of `event` that `response` does not name as failed; the failed ones
    /// become visible again at once.
    pub async fn settle(
        &self,
        event: &aws_lambda_events::event::sqs::SqsEvent,
        response: &aws_lambda_events::event::sqs::SqsBatchResponse,
    ) -> anyhow::Result<()> {
        for m in &event.records {
            let failed = response.batch_item_failures.iter().any(|f| Some(&f.item_identifier) == m.message_id.as_ref());
            let Some(receipt) = &m.receipt_handle else { continue };
            if failed {
                self.client
                    .change_message_visibility()
                    .queue_url(&self.url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await?;
            } else {
                self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await?;
            }
        }
        Ok(())
    }

    /// Messages waiting (visible, in flight or delayed), as SQS approximates them.
    pub async fn depth(&self) -> anyhow::Result<u64> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await?;
        let attrs = out.attributes().cloned().unwrap_or_default();
        let get = |name: aws_sdk_sqs::types::QueueAttributeName| {
            attrs.get(&name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        Ok(get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + get(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed))
    }
}
