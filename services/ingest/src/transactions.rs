//! `ingest.processing_guarantee = "exactly_once"`: the forecasts and dead letters of an epoch and
//! the consumed offsets they finish go to Kafka in one transaction, with the consumer group's
//! metadata (KIP-447), so a zombie member's late commit is fenced and a crash redoes exactly the
//! work whose outputs no read_committed consumer ever saw.
//!
//! Offsets are only exactly-once when every message before them is finished, so an epoch ends by
//! *sealing*: consumption pauses, every due series is dispatched at once, and the transaction
//! commits when no batch is in flight. Then each partition's commit position is its consume
//! position and every output of the messages before it is in this or an earlier transaction.

use std::time::{Duration, Instant};

use prost::bytes::Bytes;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use seer_runtime::{HealthContext, KafkaHealth};

use crate::config::IngestConfig;
use crate::error::IngestError;
use crate::state::{InFlight, IngestState};

/// What an epoch will publish.
pub(crate) enum Output {
    /// A batch's forecasts (key = series id, protobuf payload) and the series they finish.
    Forecasts {
        series: Vec<InFlight>,
        records: Vec<(String, Bytes)>,
    },
    DeadLetter {
        partition: i32,
        offset: i64,
        reason: &'static str,
        source: String,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
    },
}

/// Removes what belongs to `partitions` from `pending`: whole dead letters, and the series (and
/// their forecast records) of a batch, whose other series stay.
fn drop_partition_outputs(pending: &mut Vec<Output>, partitions: &[i32]) {
    pending.retain_mut(|o| match o {
        Output::DeadLetter { partition, .. } => !partitions.contains(partition),
        Output::Forecasts { series, records } => {
            let dropped: std::collections::HashSet<String> = series
                .iter()
                .filter(|s| partitions.contains(&s.key.partition))
                .map(|s| s.key.series_id.clone())
                .collect();
            series.retain(|s| !partitions.contains(&s.key.partition));
            records.retain(|(id, _)| !dropped.contains(id));
            !series.is_empty()
        }
    });
}

pub(crate) struct Transactions {
    producer: FutureProducer<HealthContext>,
    pending: Vec<Output>,
    interval: Duration,
    last_commit: Instant,
    sealing: bool,
    forecasts_topic: String,
    dead_letters_topic: String,
    observations_topic: String,
}

/// Deadline of the blocking transaction calls.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);
/// Aborting after a failure: the ingest exits next either way, and a restart fences whatever
/// is left open.
const ABORT_TIMEOUT: Duration = Duration::from_secs(5);

impl Transactions {
    /// A transactional producer, registered with the coordinator (which fences an older producer
    /// of the same `transactional.id`: the previous incarnation of this pod).
    pub(crate) async fn new(
        config: &IngestConfig,
        health: &KafkaHealth,
    ) -> Result<Self, IngestError> {
        let mut c = config.kafka.producer_config(2);
        c.set("transactional.id", config.transactional_id())
            .set("transaction.timeout.ms", "60000");
        let producer = health.producer(&config.kafka, c)?;
        let p = producer.clone();
        tokio::task::spawn_blocking(move || p.init_transactions(TXN_TIMEOUT))
            .await
            .map_err(|e| IngestError::Transaction(e.to_string()))??;
        Ok(Transactions {
            producer,
            pending: Vec::new(),
            interval: Duration::from_millis(config.transaction_interval_ms),
            last_commit: Instant::now(),
            sealing: false,
            forecasts_topic: config.topics.forecasts.clone(),
            dead_letters_topic: config.topics.dead_letters.clone(),
            observations_topic: config.topics.observations.clone(),
        })
    }

    pub(crate) fn push(&mut self, output: Output) {
        self.pending.push(output);
    }

    /// Outputs of revoked partitions are dropped: their new owner redoes them from the last
    /// committed offset.
    pub(crate) fn drop_partitions(&mut self, partitions: &[i32]) {
        drop_partition_outputs(&mut self.pending, partitions);
    }

    /// Whether the epoch should end now (consumption pauses until [`Self::commit`]).
    pub(crate) fn sealing(&mut self, state: &IngestState) -> bool {
        if !self.sealing
            && self.last_commit.elapsed() >= self.interval
            && (!self.pending.is_empty() || state.series_count() > 0)
        {
            self.sealing = true;
        }
        self.sealing
    }

    /// Commits the epoch: every pending output, and the offsets they finish, in one transaction.
    /// Any failure ends the ingest (the transaction is aborted; a restart resumes from the last
    /// committed offsets, so nothing is lost and nothing doubled).
    pub(crate) async fn commit(
        &mut self,
        state: &mut IngestState,
        group: Option<ConsumerGroupMetadata>,
    ) -> Result<(usize, Vec<Instant>), IngestError> {
        let outputs = std::mem::take(&mut self.pending);
        // when each delivered series' oldest point of the epoch was consumed: the latency metric
        let first_seen: Vec<Instant> = outputs
            .iter()
            .flat_map(|o| match o {
                Output::Forecasts { series, .. } => series.iter().map(|s| s.first_seen).collect(),
                Output::DeadLetter { .. } => Vec::new(),
            })
            .collect();
        for o in &outputs {
            match o {
                Output::Forecasts { series, .. } => state.delivered(series),
                Output::DeadLetter {
                    partition, offset, ..
                } => state.dead_lettered(*partition, *offset),
            }
        }
        let mut offsets = TopicPartitionList::new();
        for (p, next) in state.take_committable() {
            offsets.add_partition_offset(&self.observations_topic, p, Offset::Offset(next))?;
        }
        self.sealing = false;
        self.last_commit = Instant::now();
        if outputs.is_empty() && offsets.count() == 0 {
            return Ok((0, first_seen));
        }
        let group = group.ok_or_else(|| {
            IngestError::Transaction("no consumer group metadata to commit offsets with".into())
        })?;
        let producer = self.producer.clone();
        let (forecasts, dead_letters) = (
            self.forecasts_topic.clone(),
            self.dead_letters_topic.clone(),
        );
        let published = tokio::task::spawn_blocking(move || {
            let result = (|| -> Result<usize, IngestError> {
                producer.begin_transaction()?;
                let mut published = 0;
                for o in &outputs {
                    match o {
                        Output::Forecasts { records, .. } => {
                            for (key, payload) in records {
                                enqueue(
                                    &producer,
                                    FutureRecord::to(&forecasts).key(key).payload(&payload[..]),
                                )?;
                                published += 1;
                            }
                        }
                        Output::DeadLetter {
                            reason,
                            source,
                            key,
                            payload,
                            ..
                        } => {
                            let headers = OwnedHeaders::new()
                                .insert(Header {
                                    key: "seer-reason",
                                    value: Some(*reason),
                                })
                                .insert(Header {
                                    key: "seer-source",
                                    value: Some(source.as_str()),
                                });
                            let mut record = FutureRecord::to(&dead_letters)
                                .payload(payload)
                                .headers(headers);
                            if let Some(k) = key {
                                record = record.key(k);
                            }
                            enqueue(&producer, record)?;
                        }
                    }
                }
                if offsets.count() > 0 {
                    producer.send_offsets_to_transaction(&offsets, &group, TXN_TIMEOUT)?;
                }
                producer.commit_transaction(TXN_TIMEOUT)?;
                Ok(published)
            })();
            if let Err(e) = &result {
                // a fatal error (fenced: another incarnation owns the transactional.id) leaves
                // nothing to abort, and abort would only wait out its timeout
                let fatal = matches!(
                    e,
                    IngestError::Kafka(rdkafka::error::KafkaError::Transaction(t)) if t.is_fatal()
                );
                if !fatal {
                    let _ = producer.abort_transaction(ABORT_TIMEOUT);
                }
            }
            result
        })
        .await
        .map_err(|e| IngestError::Transaction(e.to_string()))??;
        Ok((published, first_seen))
    }
}

/// Queues a record in the open transaction, waiting while the producer queue is full; the
/// commit flushes and confirms every queued record.
fn enqueue(
    producer: &FutureProducer<HealthContext>,
    record: FutureRecord<
        '_,
        impl rdkafka::message::ToBytes + ?Sized,
        impl rdkafka::message::ToBytes + ?Sized,
    >,
) -> Result<(), IngestError> {
    let mut record = record;
    loop {
        match producer.send_result(record) {
            Ok(_delivery) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                std::thread::sleep(Duration::from_millis(10));
                record = r;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use seer_core::stream::SeriesKey;

    use super::*;

    #[test]
    fn a_revocation_drops_only_the_revoked_partitions_outputs() {
        let flight = |p: i32, id: &str| InFlight {
            key: SeriesKey::new(p, id),
            offset: 1,
            first_seen: Instant::now(),
        };
        let letter = |p: i32| Output::DeadLetter {
            partition: p,
            offset: 0,
            reason: "late",
            source: String::new(),
            key: None,
            payload: Vec::new(),
        };
        let mut pending = vec![
            Output::Forecasts {
                series: vec![flight(0, "a"), flight(1, "b")],
                records: vec![
                    ("a".into(), Bytes::from_static(&[1])),
                    ("b".into(), Bytes::from_static(&[2])),
                ],
            },
            Output::Forecasts {
                series: vec![flight(1, "c")],
                records: vec![("c".into(), Bytes::from_static(&[3]))],
            },
            letter(0),
            letter(1),
        ];
        drop_partition_outputs(&mut pending, &[1]);
        assert_eq!(pending.len(), 2);
        match &pending[0] {
            Output::Forecasts { series, records } => {
                let keys: Vec<&SeriesKey> = series.iter().map(|s| &s.key).collect();
                assert_eq!(keys, vec![&SeriesKey::new(0, "a")]);
                assert_eq!(records, &vec![("a".to_string(), Bytes::from_static(&[1]))]);
            }
            Output::DeadLetter { .. } => panic!("the batch's partition-0 series stays"),
        }
        assert!(matches!(
            pending[1],
            Output::DeadLetter { partition: 0, .. }
        ));
    }
}
