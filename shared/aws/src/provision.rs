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
    let attrs = sqs.get_queue_attributes().queue_url(&dlq_url).attribute_names(QueueAttributeName::QueueArn).send().await?;
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
    let attr = |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
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
                    .key(S3KeyFilter::builder().filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(prefix).build()).build())
                    .build(),
            )
            .build()?)
    };
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder().queue_configurations(notify("uploads/")?).queue_configurations(notify("drop/")?).build(),
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
