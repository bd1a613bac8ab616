//! The exporter: the SDK's batching span processor (its own thread, a bounded queue,
//! a batch every few seconds, dropped spans rather than blocked requests when the
//! collector is down) over OTLP/HTTP, sending through hookgate's HTTP client on the
//! server's runtime.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor};
use opentelemetry_sdk::Resource;
use tokio::runtime::Handle;

use super::{Kind, Span, Value};
use crate::delivery::{build_client, HttpClient};
use crate::model::OtlpSettings;

/// Time one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a collector's answer read.
const ANSWER_LIMIT: usize = 64 * 1024;

struct Exporter {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
    sample_ratio: f64,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Starts exporting to `settings`' collector; exports run on `runtime`. Once per
/// process.
pub fn install(settings: &OtlpSettings, runtime: Handle) -> Result<(), String> {
    let headers: HashMap<String, String> = settings
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.expose_str().to_owned()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Client {
            inner: build_client(None),
            runtime,
        })
        .with_endpoint(settings.endpoint.to_string())
        .with_headers(headers)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|error| format!("cannot build the OTLP exporter: {error}"))?;
    let mut processor = BatchSpanProcessor::builder(exporter).build();
    processor.set_resource(
        &Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let scope = InstrumentationScope::builder("hookgate")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    EXPORTER
        .set(Exporter {
            processor,
            scope,
            sample_ratio: settings.sample_ratio,
        })
        .map_err(|_| "OTLP export is already installed".to_owned())
}

/// Whether spans are exported.
pub fn enabled() -> bool {
    EXPORTER.get().is_some()
}

/// Whether a trace hookgate starts is sampled: by `sample_ratio` while exporting,
/// never otherwise.
pub fn sample_root() -> bool {
    EXPORTER
        .get()
        .is_some_and(|exporter| exporter.sample_ratio >= 1.0 || rand::random::<f64>() < exporter.sample_ratio)
}

/// Queues `span` for export (dropped when not exporting, or when the queue is full).
pub fn export(span: Span) {
    let Some(exporter) = EXPORTER.get() else {
        return;
    };
    let context = SpanContext::new(
        TraceId::from_bytes(span.context.trace_id),
        SpanId::from_bytes(span.context.span_id),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let attributes = span
        .attributes
        .into_iter()
        .map(|(key, value)| match value {
            Value::Text(text) => KeyValue::new(key, text),
            Value::Int(number) => KeyValue::new(key, number),
        })
        .collect();
    exporter.processor.on_end(SpanData {
        span_context: context,
        parent_span_id: span.parent.map_or(SpanId::INVALID, SpanId::from_bytes),
        // A server span's parent is the sender's; a client span's is ours.
        parent_span_is_remote: span.kind == Kind::Server && span.parent.is_some(),
        span_kind: match span.kind {
            Kind::Server => SpanKind::Server,
            Kind::Client => SpanKind::Client,
        },
        name: span.name.into(),
        start_time: span.start,
        end_time: span.end,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: span.error.map_or(Status::Unset, Status::error),
        instrumentation_scope: exporter.scope.clone(),
    });
}

/// Exports what is queued and stops the exporter (at shutdown).
pub async fn shutdown() {
    if EXPORTER.get().is_some() {
        let flushed =
            tokio::task::spawn_blocking(|| EXPORTER.get().map(|exporter| exporter.processor.shutdown()))
                .await;
        if let Ok(Some(Err(error))) = flushed {
            tracing::warn!(%error, "exporting the last spans failed");
        }
    }
}

/// hookgate's HTTP client as the exporter's: the processor's thread has no runtime,
/// so each export is sent as a task on the server's.
#[derive(Debug)]
struct Client {
    inner: HttpClient,
    runtime: Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Client {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(body));
        let client = self.inner.clone();
        let sent = self.runtime.spawn(async move {
            crate::delivery::send(&client, request, EXPORT_TIMEOUT, ANSWER_LIMIT).await
        });
        match sent.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(Box::new(error)),
            Err(error) => Err(Box::new(error)),
        }
    }
}
