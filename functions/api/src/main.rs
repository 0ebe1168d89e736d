//! The `api` function: the HTTP API (`shared/http`'s router) behind API Gateway.

use lambda_http::{Error, LambdaEvent, request::LambdaRequest, service_fn};
use sluice_aws::AwsRuntime;
use sluice_aws::handlers::api;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let rt = AwsRuntime::from_env().await?;
    let jwt = rt.jwt().await?;
    let router = sluice_http::router(rt.api_state(jwt));
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let router = router.clone();
        async move { api(router, event).await }
    }))
    .await
}
