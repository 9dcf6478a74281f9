//! Whether a service's Kafka clients can talk to the cluster, as librdkafka reports it: global
//! errors (all brokers down, authentication or TLS failures) turn it down, the next statistics
//! report with a broker up turns it up again. Services require it in their readiness, and each
//! change is logged once, with what to check, instead of librdkafka's line per retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;

use crate::admin::Readiness;
use crate::error::RuntimeError;
use crate::kafka::KafkaConfig;

/// How often librdkafka reports broker states; also how soon readiness returns after an outage.
const STATS_INTERVAL_MS: &str = "1000";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Up,
    Down(String),
    Rejected(String),
}

/// The Kafka side of a service's readiness, shared by the contexts of all its clients.
#[derive(Clone)]
pub struct KafkaHealth {
    up: Readiness,
    condition: Arc<Mutex<Condition>>,
    /// Named in messages: which client of which service, and with which identity.
    role: &'static str,
    identity: String,
}

impl KafkaHealth {
    /// Starts up: a client is assumed connected until librdkafka says otherwise.
    pub fn new(role: &'static str, config: &KafkaConfig) -> KafkaHealth {
        let identity = if config.sasl_mechanism.is_empty() {
            format!("{} to {}", config.security_protocol, config.brokers)
        } else {
            format!(
                "{} {} as user {:?} to {}",
                config.security_protocol,
                config.sasl_mechanism,
                config.sasl_username,
                config.brokers
            )
        };
        KafkaHealth {
            up: Readiness::starting(true),
            condition: Arc::new(Mutex::new(Condition::Up)),
            role,
            identity,
        }
    }

    /// True while the cluster is reachable and accepts the credentials.
    pub fn ready(&self) -> Readiness {
        self.up.clone()
    }

    /// Why the cluster is not usable now, if it is not (for a command's error message).
    pub fn problem(&self) -> Option<String> {
        match &*self.condition.lock().ok()? {
            Condition::Up => None,
            Condition::Down(m) | Condition::Rejected(m) => Some(m.clone()),
        }
    }

    /// Turns on the statistics the health is read from (the user's `kafka.properties` still
    /// win when applied afterwards).
    pub fn configure(config: &mut ClientConfig) -> &mut ClientConfig {
        config.set("statistics.interval.ms", STATS_INTERVAL_MS)
    }

    /// A producer from `config` (what `KafkaConfig::producer_config` gave, plus the caller's own
    /// settings), reporting to this health; the user's producer properties are applied last, so
    /// they still win.
    pub fn producer(
        &self,
        kafka: &KafkaConfig,
        mut config: ClientConfig,
    ) -> Result<FutureProducer<HealthContext>, KafkaError> {
        KafkaHealth::configure(&mut config);
        kafka.apply_producer_properties(&mut config);
        config.create_with_context(self.context())
    }

    /// A context for a client with no context of its own.
    pub fn context(&self) -> HealthContext {
        HealthContext(self.clone())
    }

    /// For commands that should fail rather than wait: fetches `topic`'s metadata through
    /// `client` and names what is wrong (credentials, TLS, brokers down, no such topic).
    pub fn check_topic<C: ClientContext>(
        &self,
        client: &rdkafka::client::Client<C>,
        topic: &str,
        timeout: std::time::Duration,
    ) -> Result<(), RuntimeError> {
        let failed = |e: String| RuntimeError::Unreachable(self.problem().unwrap_or(e));
        let metadata = client
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| failed(format!("{e} ({})", self.identity)))?;
        match metadata.topics().iter().find(|t| t.name() == topic) {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
            _ => Err(RuntimeError::Topic {
                topic: topic.to_string(),
                message: "no such topic on the cluster (create it, e.g. scripts/kafka.sh topics)"
                    .into(),
            }),
        }
    }

    fn change(&self, next: Condition) {
        let Ok(mut current) = self.condition.lock() else {
            return;
        };
        // the same kind again (librdkafka repeats each failure per retry): keep the newest
        // message, log nothing
        if std::mem::discriminant(&*current) == std::mem::discriminant(&next) {
            *current = next;
            return;
        }
        let (role, identity) = (self.role, self.identity.as_str());
        match &next {
            Condition::Up => tracing::info!(role, "Kafka reachable again ({identity})"),
            Condition::Down(m) => tracing::warn!(role, "Kafka unreachable ({identity}): {m}"),
            Condition::Rejected(m) => tracing::error!(role, "{m} ({identity})"),
        }
        self.up.set(next == Condition::Up);
        *current = next;
    }

    /// Classifies a librdkafka global error; errors that say nothing about connectivity are
    /// only logged.
    pub fn on_error(&self, error: &KafkaError, reason: &str) {
        // readers that ask for partition-end events get each one here as well
        if matches!(error, KafkaError::PartitionEOF(_)) {
            return;
        }
        let code = error.rdkafka_error_code();
        match code {
            Some(RDKafkaErrorCode::Authentication) => self.change(Condition::Rejected(format!(
                "Kafka rejected seer's credentials: {reason}; check kafka.sasl_mechanism, \
                 kafka.sasl_username and kafka.sasl_password (SEER_KAFKA__SASL_PASSWORD)"
            ))),
            Some(RDKafkaErrorCode::SSL) => self.change(Condition::Rejected(format!(
                "TLS with the Kafka brokers failed: {reason}; check kafka.security_protocol, \
                 kafka.ssl_ca_location and the client certificate settings"
            ))),
            Some(RDKafkaErrorCode::AllBrokersDown) => {
                // after an authentication failure every broker is down too; keep the cause
                let rejected = self
                    .condition
                    .lock()
                    .map(|c| matches!(*c, Condition::Rejected(_)))
                    .unwrap_or(false);
                if !rejected {
                    self.change(Condition::Down(reason.to_string()));
                }
            }
            // one connection failing: the outage, if it is one, arrives as AllBrokersDown
            Some(RDKafkaErrorCode::PartitionEOF | RDKafkaErrorCode::BrokerTransportFailure) => {
                tracing::debug!(role = self.role, error = %error, reason, "Kafka client error")
            }
            _ => tracing::warn!(role = self.role, error = %error, reason, "Kafka client error"),
        }
    }

    /// Reads the broker states out of a statistics report: any broker up means reachable.
    pub fn on_stats(&self, json: &[u8]) {
        #[derive(Deserialize)]
        struct Stats {
            #[serde(default)]
            brokers: HashMap<String, Broker>,
        }
        #[derive(Deserialize)]
        struct Broker {
            state: String,
        }
        if let Ok(stats) = serde_json::from_slice::<Stats>(json)
            && stats.brokers.values().any(|b| b.state == "UP")
        {
            self.change(Condition::Up);
        }
    }
}

/// A client context that feeds [`KafkaHealth`].
#[derive(Clone)]
pub struct HealthContext(pub KafkaHealth);

impl ClientContext for HealthContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.on_error(&error, reason);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.0.on_stats(statistics);
    }
}

impl ConsumerContext for HealthContext {}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> KafkaHealth {
        let config = KafkaConfig {
            security_protocol: "sasl_ssl".into(),
            sasl_mechanism: "SCRAM-SHA-512".into(),
            sasl_username: "seer".into(),
            sasl_password: "hunter2".into(),
            ..KafkaConfig::with_brokers("b:9094")
        };
        KafkaHealth::new("test", &config)
    }

    #[test]
    fn down_until_a_broker_reports_up() {
        let h = health();
        assert!(h.ready().get());
        h.on_error(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert!(!h.ready().get());
        assert!(h.problem().unwrap().contains("brokers are down"));
        h.on_stats(br#"{"brokers": {"b:9094/1": {"state": "CONNECT"}}}"#);
        assert!(!h.ready().get());
        h.on_stats(br#"{"name": "x", "brokers": {"b:9094/1": {"state": "UP", "rtt": {}}}}"#);
        assert!(h.ready().get());
        assert_eq!(h.problem(), None);
    }

    #[test]
    fn rejected_credentials_keep_their_cause_and_never_name_the_secret() {
        let h = health();
        h.on_error(
            &KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed",
        );
        h.on_error(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let problem = h.problem().unwrap();
        assert!(problem.contains("rejected seer's credentials"), "{problem}");
        assert!(problem.contains("kafka.sasl_password"), "{problem}");
        assert!(!problem.contains("hunter2"));
        assert!(!h.identity.contains("hunter2"));
        assert!(!h.ready().get());
        h.on_stats(b"not json");
        assert!(!h.ready().get());
    }

    #[test]
    fn readiness_requires_every_condition() {
        let h = health();
        let ready = Readiness::default();
        ready.require(h.ready());
        assert!(!ready.get());
        ready.set(true);
        assert!(ready.get());
        h.on_error(
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "down",
        );
        assert!(!ready.get());
    }
}
