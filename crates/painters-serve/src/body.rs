//! [`JsonBody`]: a JSON response with its status.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A JSON body with its status (axum's own `Json` would pull in `serde_json/raw_value`, which
/// changes the features every crate of the workspace is built with).
#[derive(Clone, Debug, PartialEq)]
pub struct JsonBody(pub StatusCode, pub Value);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "application/json")],
            self.1.to_string(),
        )
            .into_response()
    }
}
