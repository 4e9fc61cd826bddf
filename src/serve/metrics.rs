//! `/metrics`: Prometheus text (OpenMetrics), through the Prometheus project's client.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use hyper::StatusCode;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::verify::Verdict;

/// Which endpoint a request went to, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Auth,
    Verify,
    Health,
    Metrics,
    SelfService,
    Other,
}

impl Endpoint {
    pub(crate) fn of(path: &str) -> Endpoint {
        match path {
            "/auth" => Endpoint::Auth,
            p if p.starts_with("/auth/") => Endpoint::Auth,
            "/v1/verify" => Endpoint::Verify,
            "/healthz" => Endpoint::Health,
            "/metrics" => Endpoint::Metrics,
            "/v1/authkeys" | "/v1/user" | "/v1/user/keys" => Endpoint::SelfService,
            p if p.starts_with("/v1/user/keys/") => Endpoint::SelfService,
            _ => Endpoint::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Endpoint::Auth => "auth",
            Endpoint::Verify => "verify",
            Endpoint::Health => "healthz",
            Endpoint::Metrics => "metrics",
            Endpoint::SelfService => "self_service",
            Endpoint::Other => "other",
        }
    }
}

type RequestLabels = ([(&'static str, &'static str); 1], [(&'static str, u16); 1]);

pub(crate) struct Metrics {
    registry: Registry,
    verifications: Family<[(&'static str, &'static str); 1], Counter>,
    latency: Histogram,
    requests: Family<RequestLabels, Counter>,
    remembered: Gauge<i64, AtomicI64>,
    connections: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("keyctl");
        let verifications = Family::default();
        let latency = Histogram::new(exponential_buckets(0.000_005, 2.0, 16));
        let requests = Family::default();
        let remembered = Gauge::default();
        let connections = Counter::default();
        registry.register(
            "verifications",
            "Verifications by result: valid, or the reason for rejecting",
            verifications.clone(),
        );
        registry.register(
            "verification_duration_seconds",
            "Time to verify one credential",
            latency.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by endpoint and status",
            requests.clone(),
        );
        registry.register(
            "verifier_remembered_keys",
            "Keys the verifiers remember while the store is unchanged",
            remembered.clone(),
        );
        registry.register("connections", "Connections accepted", connections.clone());
        Metrics {
            registry,
            verifications,
            latency,
            requests,
            remembered,
            connections,
        }
    }

    pub(crate) fn verified(&self, verdict: &Verdict, took: Duration) {
        let result = verdict.reason.map_or("valid", |r| r.as_str());
        self.verifications
            .get_or_create(&[("result", result)])
            .inc();
        self.latency.observe(took.as_secs_f64());
    }

    pub(crate) fn request(&self, endpoint: Endpoint, status: StatusCode) {
        self.requests
            .get_or_create(&(
                [("endpoint", endpoint.label())],
                [("status", status.as_u16())],
            ))
            .inc();
    }

    pub(crate) fn connection(&self) {
        self.connections.inc();
    }

    /// One verifier's count of remembered keys went from `before` to `after`.
    pub(crate) fn remembered_changed(&self, before: usize, after: usize) {
        if before != after {
            self.remembered.inc_by(after as i64 - before as i64);
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
