//! The weft demo: three services instrumented only through weft.
//!
//! ```text
//! weft-demo llm                                  # fake model + token usage
//! LLM_URL=http://… weft-demo orders              # SQLite + calls the llm worker
//! ORDERS_URL=http://… weft-demo gateway          # the entry point: GET /checkout/{user}
//! ```
//!
//! Each prints `listening <addr>` once ready (`DEMO_ADDR` picks the address; default an
//! ephemeral loopback port). Where traces go is up to the `OTEL_*` variables.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use weft::http_server::WeftLayer;

#[derive(Clone)]
struct App {
    http: reqwest_middleware::ClientWithMiddleware,
    next: String,
    db: Option<sqlx::SqlitePool>,
}

#[derive(Serialize, Deserialize)]
struct Order {
    user: String,
    item: String,
}

#[derive(Serialize, Deserialize)]
struct Summary {
    order_id: i64,
    summary: String,
}

type Failure = (StatusCode, String);

fn fail(e: impl std::fmt::Display) -> Failure {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn checkout(
    State(app): State<App>,
    Path(user): Path<String>,
) -> Result<Json<Summary>, Failure> {
    tracing::info!(user = %user, "checkout");
    let resp = app
        .http
        .post(format!("{}/orders", app.next))
        .json(&Order {
            user,
            item: "tea".into(),
        })
        .send()
        .await
        .map_err(fail)?;
    if !resp.status().is_success() {
        return Err(fail(format!("orders answered {}", resp.status())));
    }
    Ok(Json(resp.json().await.map_err(fail)?))
}

async fn create_order(
    State(app): State<App>,
    Json(order): Json<Order>,
) -> Result<Json<Summary>, Failure> {
    let db = app.db.as_ref().expect("orders has a database");
    let sql = "INSERT INTO orders (user, item) VALUES (?, ?)";
    let id = weft::db::instrument("sqlite", "orders", sql, async {
        sqlx::query(sql)
            .bind(&order.user)
            .bind(&order.item)
            .execute(db)
            .await
            .map(|r| r.rows_affected())
    })
    .await
    .map_err(fail)?;
    let _ = id;
    let order_id: i64 =
        weft::db::instrument("sqlite", "orders", "SELECT max(id) FROM orders", async {
            sqlx::query_scalar::<_, i64>("SELECT max(id) FROM orders")
                .fetch_optional(db)
                .await
        })
        .await
        .map_err(fail)?
        .unwrap_or_default();
    let resp = app
        .http
        .post(format!("{}/summarize", app.next))
        .json(&serde_json::json!({ "order_id": order_id, "text": format!("{} ordered {}", order.user, order.item) }))
        .send()
        .await
        .map_err(fail)?;
    if !resp.status().is_success() {
        return Err(fail(format!("llm answered {}", resp.status())));
    }
    Ok(Json(resp.json().await.map_err(fail)?))
}

/// A fake model: deterministic output and token counts.
async fn summarize(Json(req): Json<serde_json::Value>) -> Json<Summary> {
    let text = req["text"].as_str().unwrap_or_default().to_string();
    let order_id = req["order_id"].as_i64().unwrap_or_default();
    let agent = weft::genai::agent_span("order-summarizer");
    let summary = {
        let _a = agent.enter();
        let span = weft::genai::model_span("fake", "chat", "fake-model-1");
        weft::genai::record_input(
            &span,
            &serde_json::json!([{"role": "user", "content": text}]).to_string(),
        );
        let summary = format!("Summary: {text}.");
        let input_tokens = text.split_whitespace().count() as u64 + 8;
        let output_tokens = summary.split_whitespace().count() as u64;
        weft::genai::record_output(
            &span,
            &serde_json::json!([{"role": "assistant", "content": summary}]).to_string(),
        );
        weft::genai::record_response(&span, "fake-model-1", input_tokens, output_tokens);
        summary
    };
    Json(Summary { order_id, summary })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let role = std::env::args().nth(1).unwrap_or_default();
    let service = format!("demo-{role}");
    weft::genai::set_price(
        "fake-model-1",
        weft::genai::Price {
            input_per_mtok: 1.0,
            output_per_mtok: 2.0,
        },
    );
    let _guard = weft::builder()
        .service_name(std::env::var("OTEL_SERVICE_NAME").unwrap_or(service))
        .init()?;
    let http = weft::http_client::client(reqwest::Client::new());
    let (app, next) = match role.as_str() {
        "gateway" => (
            Router::new().route("/checkout/{user}", get(checkout)),
            std::env::var("ORDERS_URL").map_err(|_| "set ORDERS_URL to the orders service")?,
        ),
        "orders" => (
            Router::new().route("/orders", post(create_order)),
            std::env::var("LLM_URL").map_err(|_| "set LLM_URL to the llm worker")?,
        ),
        "llm" => (
            Router::new().route("/summarize", post(summarize)),
            String::new(),
        ),
        _ => return Err("usage: weft-demo gateway|orders|llm".into()),
    };
    let db = if role == "orders" {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await?;
        sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, user TEXT, item TEXT)")
            .execute(&pool)
            .await?;
        Some(pool)
    } else {
        None
    };
    let app = app
        .route("/health", get(|| async { "ok" }))
        .layer(WeftLayer::new().traceparent_in_response(true))
        .with_state(App { http, next, db });
    let addr: SocketAddr = std::env::var("DEMO_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:0".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
    .await?;
    Ok(())
}
