//! seer's wire types: the messages of proto/seer/v1 (Kafka payloads and gRPC), generated at build
//! time, plus conversions to and from seer's domain types.

pub mod convert;
pub mod encoded;

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("seer.v1");
}

/// The encoded FileDescriptorSet of every seer proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("seer_descriptor");
