//! SDK errors sorted, at this edge, into the kinds the use cases act on: transient (retry),
//! conflict (another writer won), not found (an answer), permanent (report, do not retry).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use sluice_app::ports::{StoreError, StoreErrorKind};

/// Error codes that mean "try again".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "KMSThrottlingException",
];

/// Sorts an SDK error. `not_found` lists the codes that mean the thing asked for is absent
/// (`NoSuchKey`, `NotFound`), as opposed to a missing table or queue, which is permanent.
pub fn sort<E, R>(what: &str, error: SdkError<E, R>, not_found: &[&str]) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreErrorKind::Transient
        }
        SdkError::ConstructionFailure(_) => StoreErrorKind::Permanent,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if not_found.contains(&code) {
                StoreErrorKind::NotFound
            } else if code == "ConditionalCheckFailedException" || code == "PreconditionFailed" {
                StoreErrorKind::Conflict
            } else if TRANSIENT_CODES.contains(&code) {
                StoreErrorKind::Transient
            } else {
                StoreErrorKind::Permanent
            }
        }
        _ => StoreErrorKind::Transient,
    };
    let detail = match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!("{}: {}", e.code().unwrap_or("error"), e.message().unwrap_or_default())
        }
        other => format!("{other}"),
    };
    StoreError::new(kind, format!("{what}: {detail}"))
}

/// A permanent error with a message.
pub fn permanent(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::Permanent, message)
}
