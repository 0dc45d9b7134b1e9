use std::time::Duration;

/// What went wrong, in terms both HTTP and gRPC can say: mapped once, here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    /// The request body stopped coming.
    RequestTimeout,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorCode::BadRequest => S::BAD_REQUEST,
            ErrorCode::NotFound => S::NOT_FOUND,
            ErrorCode::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TooManyRequests => S::TOO_MANY_REQUESTS,
            ErrorCode::RequestTimeout => S::REQUEST_TIMEOUT,
            ErrorCode::Unavailable => S::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            ErrorCode::BadRequest | ErrorCode::UnsupportedMediaType => C::InvalidArgument,
            ErrorCode::NotFound => C::NotFound,
            ErrorCode::PayloadTooLarge | ErrorCode::TooManyRequests => C::ResourceExhausted,
            ErrorCode::RequestTimeout => C::DeadlineExceeded,
            ErrorCode::Unavailable => C::Unavailable,
            ErrorCode::Internal => C::Internal,
        }
    }
}

/// An error with the code that classifies it, a message that says what to do, and for
/// retryable errors the delay to wait.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct IngestError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl IngestError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> IngestError {
        IngestError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(message: String) -> IngestError {
        IngestError::new(ErrorCode::BadRequest, message)
    }
    pub fn too_many_requests(message: String, retry_after: Duration) -> IngestError {
        IngestError {
            code: ErrorCode::TooManyRequests,
            message,
            retry_after: Some(retry_after),
        }
    }
    pub fn unavailable(message: String, retry_after: Duration) -> IngestError {
        IngestError {
            code: ErrorCode::Unavailable,
            message,
            retry_after: Some(retry_after),
        }
    }

    /// The gRPC status, with `google.rpc.RetryInfo` when the client should retry.
    pub fn to_grpc_status(&self) -> tonic::Status {
        use tonic_types::{ErrorDetails, StatusExt};
        match self.retry_after {
            Some(d) => tonic::Status::with_error_details(
                self.code.grpc_code(),
                self.message.clone(),
                ErrorDetails::with_retry_info(Some(d)),
            ),
            None => tonic::Status::new(self.code.grpc_code(), self.message.clone()),
        }
    }
}
