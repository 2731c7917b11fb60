//! Requests to a landing zone in object storage, by outcome
//! (`sluice_object_store_requests_total`): throttling (429, 503) and server
//! errors show here, retried by the store's client with backoff.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabels {
    pipeline: String,
    topic: String,
    outcome: &'static str,
}

/// The family, registered.
pub(super) fn register(registry: &mut Registry) -> Family<OutcomeLabels, Counter> {
    let family = Family::default();
    registry.register(
        "object_store_requests",
        "HTTP requests to the landing zone's object store, by outcome: ok, throttled (429, 503), \
         server_error, client_error, failed (no answer)",
        family.clone(),
    );
    family
}

/// One pipeline's counter of object-store requests.
#[derive(Debug, Clone)]
pub struct StoreRequests {
    family: Family<OutcomeLabels, Counter>,
    pipeline: String,
    topic: String,
}

impl StoreRequests {
    pub(super) fn new(family: &Family<OutcomeLabels, Counter>, pipeline: &str, topic: &str) -> Self {
        StoreRequests { family: family.clone(), pipeline: pipeline.to_owned(), topic: topic.to_owned() }
    }

    /// Counts one answer (or its absence) as `outcome`.
    pub fn count(&self, outcome: &'static str) {
        let labels = OutcomeLabels { pipeline: self.pipeline.clone(), topic: self.topic.clone(), outcome };
        self.family.get_or_create(&labels).inc();
    }
}
