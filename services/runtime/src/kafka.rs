//! The one place seer creates Kafka client settings: every consumer, producer and admin client of
//! every service starts from [`KafkaConfig::client_config`], so brokers, security and extra
//! librdkafka properties apply everywhere alike.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::error::RuntimeError;

/// The `[kafka]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
    pub security_protocol: String,
    pub sasl_mechanism: String,
    pub sasl_username: String,
    pub sasl_password: String,
    pub ssl_ca_location: String,
    pub ssl_certificate_location: String,
    pub ssl_key_location: String,
    pub ssl_key_password: String,
    /// Any other librdkafka property; applied last, so it wins over seer's own tuning.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        crate::defaults::section("kafka")
    }
}

const PROTOCOLS: [&str; 4] = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];

#[derive(Clone, Copy)]
enum Role {
    /// Settings every client starts from.
    Any,
    Consumer,
    Producer,
}

/// librdkafka's consumer-only properties (CONFIGURATION.md, "C"), the ones users set.
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.remote.assignor",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "consume.callback.max.messages",
];

/// librdkafka's producer-only properties (CONFIGURATION.md, "P"), the ones users set.
const PRODUCER_ONLY: &[&str] = &[
    "transactional.id",
    "transaction.timeout.ms",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.ms",
    "linger.ms",
    "message.send.max.retries",
    "retries",
    "queue.buffering.backpressure.threshold",
    "compression.codec",
    "compression.type",
    "compression.level",
    "batch.num.messages",
    "batch.size",
    "delivery.report.only.error",
    "sticky.partitioning.linger.ms",
    "request.required.acks",
    "acks",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "partitioner",
];

impl KafkaConfig {
    /// Plaintext to `brokers` with every other setting at its default (tests, `seer up`).
    pub fn with_brokers(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            ..Default::default()
        }
    }

    /// Checks what librdkafka would only reject when the first client is created, naming the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.brokers.trim().is_empty() {
            return Err(("kafka.brokers", "must name at least one host:port".into()));
        }
        let protocol = self.security_protocol.to_ascii_lowercase();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err((
                "kafka.security_protocol",
                format!("must be one of {}", PROTOCOLS.join(", ")),
            ));
        }
        let sasl = protocol.starts_with("sasl_");
        if sasl && self.sasl_mechanism.is_empty() {
            return Err((
                "kafka.sasl_mechanism",
                format!("is required with security_protocol {protocol}"),
            ));
        }
        if !sasl && !self.sasl_mechanism.is_empty() {
            return Err((
                "kafka.sasl_mechanism",
                format!("needs a sasl_* security_protocol, not {protocol}"),
            ));
        }
        Ok(())
    }

    /// Client settings every seer Kafka client starts from; callers add their role's settings
    /// (group id, idempotence...) and then [`KafkaConfig::apply_properties`], so that the user's
    /// extra properties have the last word.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        // librdkafka backs off reconnects up to 10 s: after a broker restart or a network cut
        // that is up to 10 s more of not forecasting; 2 s (jittered) is still far from a storm
        c.set("reconnect.backoff.max.ms", "2000");
        c.set(
            "security.protocol",
            self.security_protocol.to_ascii_lowercase(),
        );
        let optional = [
            ("sasl.mechanism", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
            ("ssl.key.password", &self.ssl_key_password),
        ];
        for (key, value) in optional {
            if !value.is_empty() {
                c.set(key, value);
            }
        }
        self.apply(&mut c, Role::Any);
        c
    }

    /// An idempotent producer's settings: retries never duplicate or reorder, so an acknowledged
    /// message is in the topic exactly once; `linger_ms` trades latency for batching.
    pub fn producer_config(&self, linger_ms: u32) -> ClientConfig {
        let mut c = self.client_config();
        c.set("enable.idempotence", "true")
            .set("linger.ms", linger_ms.to_string())
            .set("message.timeout.ms", "30000");
        self.apply_producer_properties(&mut c);
        c
    }

    /// Sets the user's extra properties over whatever a consumer's or admin client's `c` holds
    /// (all but the producer-only ones).
    pub fn apply_properties<'a>(&self, c: &'a mut ClientConfig) -> &'a mut ClientConfig {
        self.apply(c, Role::Consumer)
    }

    /// Sets the user's extra properties over whatever a producer's `c` holds (all but the
    /// consumer-only ones).
    pub fn apply_producer_properties<'a>(&self, c: &'a mut ClientConfig) -> &'a mut ClientConfig {
        self.apply(c, Role::Producer)
    }

    /// `kafka.properties` go to every client that takes them: librdkafka warns about, and
    /// ignores, a consumer property on a producer and the other way round, so each role gets
    /// only its own and the shared ones.
    fn apply<'a>(&self, c: &'a mut ClientConfig, role: Role) -> &'a mut ClientConfig {
        for (k, v) in &self.properties {
            let consumer_only = CONSUMER_ONLY.contains(&k.as_str());
            let producer_only = PRODUCER_ONLY.contains(&k.as_str());
            let applies = match role {
                Role::Any => !consumer_only && !producer_only,
                Role::Consumer => !producer_only,
                Role::Producer => !consumer_only,
            };
            if applies {
                c.set(k, v);
            }
        }
        c
    }
}

impl KafkaConfig {
    /// Creates `topics` (name, partitions) with replication 1 where they do not exist yet, for
    /// `seer up` and the benchmarks on a single-broker cluster; existing topics are left alone.
    pub async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<(), RuntimeError> {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        use rdkafka::client::DefaultClientContext;
        use rdkafka::types::RDKafkaErrorCode;
        let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1)))
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&new, &opts).await? {
            if let Err((topic, code)) = result
                && code != RDKafkaErrorCode::TopicAlreadyExists
            {
                return Err(RuntimeError::Topic {
                    topic,
                    message: code.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Partitions of `topic` as `consumer` sees them, waiting (every 500 ms) while the topic or the
/// broker is not there yet; `None` once `shutdown` fires.
pub async fn wait_for_partitions<C, T>(
    consumer: &std::sync::Arc<T>,
    topic: &str,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<Vec<i32>>
where
    C: rdkafka::consumer::ConsumerContext + 'static,
    T: rdkafka::consumer::Consumer<C> + Send + Sync + 'static,
{
    loop {
        let (c, t) = (consumer.clone(), topic.to_string());
        let md = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(Some(&t), Duration::from_secs(5))
                .map(|md| {
                    md.topics()
                        .iter()
                        .filter(|x| x.name() == t && x.error().is_none())
                        .flat_map(|x| x.partitions().iter().map(|p| p.id()))
                        .collect::<Vec<i32>>()
                })
        })
        .await;
        match md {
            Ok(Ok(parts)) if !parts.is_empty() => return Some(parts),
            Ok(Ok(_)) => tracing::debug!(topic, "topic has no partitions yet"),
            Ok(Err(e)) => tracing::debug!(topic, error = %e, "reading topic metadata"),
            Err(e) => tracing::warn!(topic, error = %e, "metadata task failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// The `[topics]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topics {
    pub observations: String,
    pub forecasts: String,
    pub dead_letters: String,
    /// Model versions and the active one per model (compacted, one partition).
    pub models: String,
}

impl Default for Topics {
    fn default() -> Self {
        crate::defaults::section("topics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_and_extra_properties_reach_every_client() {
        let mut k = KafkaConfig {
            security_protocol: "SASL_SSL".into(),
            sasl_mechanism: "SCRAM-SHA-512".into(),
            sasl_username: "seer".into(),
            sasl_password: "pw".into(),
            ssl_ca_location: "/etc/ca.pem".into(),
            ..KafkaConfig::with_brokers("b1:9093,b2:9093")
        };
        k.properties
            .insert("socket.keepalive.enable".into(), "true".into());
        k.properties
            .insert("security.protocol".into(), "sasl_ssl".into());
        k.validate().unwrap();
        let c = k.client_config();
        assert_eq!(c.get("bootstrap.servers"), Some("b1:9093,b2:9093"));
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("sasl.password"), Some("pw"));
        assert_eq!(c.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(c.get("ssl.key.location"), None);
        assert_eq!(c.get("socket.keepalive.enable"), Some("true"));
        let mut role = k.client_config();
        role.set("socket.keepalive.enable", "false");
        k.apply_properties(&mut role);
        assert_eq!(role.get("socket.keepalive.enable"), Some("true"));
    }

    #[test]
    fn role_specific_properties_reach_only_their_role() {
        let mut k = KafkaConfig::with_brokers("b:9092");
        for (key, value) in [
            ("session.timeout.ms", "6000"),
            ("linger.ms", "50"),
            ("socket.keepalive.enable", "true"),
        ] {
            k.properties.insert(key.into(), value.into());
        }
        let base = k.client_config();
        assert_eq!(base.get("socket.keepalive.enable"), Some("true"));
        assert_eq!(base.get("session.timeout.ms"), None);
        assert_eq!(base.get("linger.ms"), None);
        let mut consumer = k.client_config();
        k.apply_properties(&mut consumer);
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(consumer.get("linger.ms"), None);
        let producer = k.producer_config(2);
        assert_eq!(producer.get("linger.ms"), Some("50"));
        assert_eq!(producer.get("session.timeout.ms"), None);
        assert_eq!(producer.get("socket.keepalive.enable"), Some("true"));
    }

    #[test]
    fn inconsistent_security_is_rejected_by_key() {
        let bad = KafkaConfig {
            security_protocol: "sasl_plaintext".into(),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "kafka.sasl_mechanism");
        let bad = KafkaConfig {
            security_protocol: "tls".into(),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "kafka.security_protocol");
        assert_eq!(
            KafkaConfig::with_brokers(" ").validate().unwrap_err().0,
            "kafka.brokers"
        );
        KafkaConfig::default().validate().unwrap();
        assert_eq!(Topics::default().dead_letters, "seer.dlq");
    }
}
