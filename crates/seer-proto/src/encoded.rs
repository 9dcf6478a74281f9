//! `Engine.Forecast` with each forecast of the reply left as the engine encoded it.
//!
//! The ingest publishes a forecast's protobuf as its Kafka record, so decoding every `Forecast`
//! of a reply (its 24 nested timestamps, its rows per level) only to encode it again is work
//! per forecast for nothing. [`EncodedForecastBatch`] reads the same bytes as
//! `ForecastBatchResponse`: a repeated message field and a repeated bytes field are the same on
//! the wire.

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::v1::{ForecastBatchRequest, SeriesError};

/// `ForecastBatchResponse` with its forecasts still encoded.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncodedForecastBatch {
    /// `ForecastBatchResponse.forecasts`: each one a `seer.v1.Forecast`, as encoded.
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub forecasts: Vec<prost::bytes::Bytes>,
    /// `ForecastBatchResponse.errors`.
    #[prost(message, repeated, tag = "2")]
    pub errors: Vec<SeriesError>,
}

/// The one field of `Forecast` a publisher needs (its record key); the rest is skipped.
#[derive(Clone, PartialEq, prost::Message)]
struct ForecastSeriesId {
    #[prost(string, tag = "1")]
    series_id: String,
}

/// `Forecast.series_id` of an encoded forecast.
pub fn series_id_of(forecast: &[u8]) -> Result<String, prost::DecodeError> {
    // Encoders write fields in tag order, so the id is the first field: read it there and
    // skip the walk over the other thirty-odd fields (3.6k instructions per forecast). The rest
    // is published unread: it is the engine's own encoding, inside a reply tonic has decoded.
    if let Some(id) = leading_series_id(forecast) {
        return Ok(id.to_owned());
    }
    <ForecastSeriesId as prost::Message>::decode(forecast).map(|f| f.series_id)
}

/// Field 1 (length-delimited) when it is the message's first field and valid UTF-8.
fn leading_series_id(forecast: &[u8]) -> Option<&str> {
    const SERIES_ID_KEY: u8 = (1 << 3) | 2;
    let (&key, rest) = forecast.split_first()?;
    if key != SERIES_ID_KEY {
        return None;
    }
    let mut buf = rest;
    let len = usize::try_from(prost::encoding::decode_varint(&mut buf).ok()?).ok()?;
    let id = buf.get(..len)?;
    // a later field 1 would override this one (protobuf's last-wins rule): rare, left to the
    // full decode
    let tail = &buf[len..];
    if tail.first() == Some(&SERIES_ID_KEY) {
        return None;
    }
    std::str::from_utf8(id).ok()
}

/// A client of `seer.v1.Engine/Forecast` whose replies keep their forecasts encoded.
#[derive(Debug, Clone)]
pub struct EncodedEngineClient {
    inner: tonic::client::Grpc<Channel>,
}

impl EncodedEngineClient {
    pub fn new(channel: Channel, max_decoding_message_size: usize) -> Self {
        EncodedEngineClient {
            inner: tonic::client::Grpc::new(channel)
                .max_decoding_message_size(max_decoding_message_size),
        }
    }

    pub async fn forecast(
        &mut self,
        mut request: tonic::Request<ForecastBatchRequest>,
    ) -> Result<tonic::Response<EncodedForecastBatch>, tonic::Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
        let codec =
            tonic_prost::ProstCodec::<ForecastBatchRequest, EncodedForecastBatch>::default();
        request
            .extensions_mut()
            .insert(tonic::GrpcMethod::new("seer.v1.Engine", "Forecast"));
        self.inner
            .unary(
                request,
                PathAndQuery::from_static("/seer.v1.Engine/Forecast"),
                codec,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::convert::timestamp;
    use crate::v1::{Forecast, ForecastBatchResponse, QuantileValues};

    #[test]
    fn a_reply_reads_the_same_with_its_forecasts_left_encoded() {
        let forecast = |id: &str, v: f64| Forecast {
            series_id: id.into(),
            model: "lstm".into(),
            timestamps: (1..=3)
                .map(|k| timestamp(1_700_000_000 + k * 3600))
                .collect(),
            mean: vec![v; 3],
            quantiles: vec![QuantileValues {
                level: 0.5,
                values: vec![v; 3],
            }],
            ..Default::default()
        };
        let reply = ForecastBatchResponse {
            forecasts: vec![forecast("a", 1.0), forecast("", 2.0), forecast("ü/β", 3.0)],
            errors: vec![SeriesError {
                series_id: "z".into(),
                reason: "nothing observed".into(),
            }],
        };
        let encoded = EncodedForecastBatch::decode(reply.encode_to_vec().as_slice()).unwrap();
        assert_eq!(encoded.errors, reply.errors);
        assert_eq!(encoded.forecasts.len(), 3);
        for (bytes, want) in encoded.forecasts.iter().zip(&reply.forecasts) {
            assert_eq!(Forecast::decode(bytes.as_ref()).unwrap(), *want);
            assert_eq!(series_id_of(bytes).unwrap(), want.series_id);
        }
        // and back: what the engine sends is what an encoded batch encodes to
        assert_eq!(encoded.encode_to_vec(), reply.encode_to_vec());
        // a forecast cut inside its id is an error, not a panic
        let whole = reply.forecasts[2].encode_to_vec();
        for cut in 1..5 {
            assert!(series_id_of(&whole[..cut]).is_err(), "cut at {cut}");
        }
        // an id that comes later (another encoder's order), or twice (the last one counts)
        let later = [vec![0x1a, 1, b'm'], vec![0x0a, 1, b'x']].concat();
        assert_eq!(series_id_of(&later).unwrap(), "x");
        let twice = [vec![0x0a, 1, b'x'], vec![0x0a, 1, b'y']].concat();
        assert_eq!(series_id_of(&twice).unwrap(), "y");
        assert!(series_id_of(&[0x0a, 2, 0xff, 0xfe]).is_err(), "not UTF-8");
    }
}
