//! Routes of this area are merged into the API router by `api::router`.

use axum::Router;

use crate::api::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
}
