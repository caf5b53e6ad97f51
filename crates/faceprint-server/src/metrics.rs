//! Prometheus metrics: requests and their latency per route, inference time, queue depth and
//! rejections, gallery size.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::error::REQUEST_ID;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub inference: Histogram,
    pub queue_depth: Gauge,
    pub queue_rejections: Counter,
    pub gallery_faces: Gauge,
    pub gallery_subjects: Gauge,
    next_request: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("faceprint");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let inference = latency_histogram();
        let (queue_depth, queue_rejections) = (Gauge::default(), Counter::default());
        let (gallery_faces, gallery_subjects) = (Gauge::default(), Gauge::default());
        registry.register("http_requests", "HTTP requests by route, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("inference_duration_seconds", "Time in the engine per request", inference.clone());
        registry.register("inference_queue_depth", "Inference requests admitted and not finished", queue_depth.clone());
        registry.register("inference_queue_rejections", "Requests refused with 429", queue_rejections.clone());
        registry.register("gallery_faces", "Face templates in the gallery", gallery_faces.clone());
        registry.register("gallery_subjects", "Subjects in the gallery", gallery_subjects.clone());
        Self {
            registry,
            requests,
            latency,
            inference,
            queue_depth,
            queue_rejections,
            gallery_faces,
            gallery_subjects,
            next_request: AtomicU64::new(1),
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn next_request_id(&self) -> String {
        let n = self.next_request.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("req-{:x}-{n}", std::process::id())
    }
}

/// The standard methods by name, anything else as `other`: a label taken from the request
/// would let any client add series without bound.
fn method_label(method: &axum::http::Method) -> String {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if known.contains(method) { method.as_str().to_owned() } else { "other".to_owned() }
}

/// Gives each request an id (echoed in `x-request-id` and in error bodies), and counts and
/// times it under its route.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| state.metrics.next_request_id());
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    state.metrics.requests.get_or_create(&RequestLabels { route: route.clone(), method, status }).inc();
    state.metrics.latency.get_or_create(&RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    response
}
