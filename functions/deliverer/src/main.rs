//! The `deliverer` function: SQS batches to `sluice_aws::handlers::deliver`, failed messages reported
//! back (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sluice_aws::AwsRuntime;
use sluice_aws::handlers::deliver;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let rt = AwsRuntime::from_env().await?;
    let rt: &'static AwsRuntime = Box::leak(Box::new(rt));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(deliver(rt, event.payload).await)
    }))
    .await
}
