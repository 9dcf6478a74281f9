//! The one way seer serves and calls gRPC: a server with grpc.health.v1, server reflection,
//! keepalive and optional TLS/mTLS already in place ([`GrpcServer`]), lazy client channels
//! ([`channel`]) and the caller's deadline (`grpc-timeout`, [`deadline_of`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::{Channel, Server};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::error::RuntimeError;

/// The `[grpc]` section: settings of every gRPC server and client seer runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    pub keepalive_interval_seconds: u64,
    pub keepalive_timeout_seconds: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        crate::defaults::section("grpc")
    }
}

impl GrpcConfig {
    fn keepalive(&self) -> Option<(Duration, Duration)> {
        (self.keepalive_interval_seconds > 0).then(|| {
            (
                Duration::from_secs(self.keepalive_interval_seconds),
                Duration::from_secs(self.keepalive_timeout_seconds.max(1)),
            )
        })
    }
}

/// Certificates for a TLS server, by file path (PEM). With `client_ca` set, clients must present
/// a certificate it signed (mutual TLS).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// TLS from three optional paths (empty = unset), as configs spell them: a certificate needs
    /// its key, a client CA needs both.
    pub fn from_paths(
        cert: &str,
        key: &str,
        client_ca: &str,
    ) -> Result<Option<TlsFiles>, &'static str> {
        match (cert.is_empty(), key.is_empty()) {
            (true, true) if client_ca.is_empty() => Ok(None),
            (true, true) => Err("a client CA needs a server certificate and key"),
            (false, true) => Err("a certificate needs its key"),
            (true, false) => Err("a key needs its certificate"),
            (false, false) => Ok(Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
                client_ca: (!client_ca.is_empty()).then(|| client_ca.into()),
            })),
        }
    }

    fn server_config(&self) -> Result<tonic::transport::ServerTlsConfig, RuntimeError> {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| RuntimeError::Tls {
                path: p.display().to_string(),
                message: e.to_string(),
            })
        };
        let mut c = ServerTlsConfig::new()
            .identity(Identity::from_pem(read(&self.cert)?, read(&self.key)?));
        if let Some(ca) = &self.client_ca {
            c = c.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        Ok(c)
    }
}

/// A gRPC server under construction: health (NOT_SERVING until [`GrpcServer::set_serving`]) and
/// reflection of seer's and health's descriptors are routed; the service adds its own.
pub struct GrpcServer {
    router: Router,
    health: Health,
}

/// Health of a server's services, flipped together.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl Health {
    pub async fn set(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status("", status).await;
        for s in &self.services {
            self.reporter.set_service_status(*s, status).await;
        }
    }
}

impl GrpcServer {
    /// `services` are the fully qualified names health reports on (besides the server's "").
    pub async fn new(
        config: &GrpcConfig,
        tls: Option<&TlsFiles>,
        services: &[&'static str],
    ) -> Result<GrpcServer, RuntimeError> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let health = Health {
            reporter,
            services: services.to_vec(),
        };
        health.set(false).await;
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(seer_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(seer_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let mut builder = Server::builder().tcp_nodelay(true);
        if let Some((interval, timeout)) = config.keepalive() {
            builder = builder
                .http2_keepalive_interval(Some(interval))
                .http2_keepalive_timeout(Some(timeout));
        }
        if let Some(tls) = tls {
            builder = builder.tls_config(tls.server_config()?)?;
        }
        let router = builder
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        Ok(GrpcServer { router, health })
    }

    /// Adds the service's own routes (`|r| r.add_service(...)`).
    pub fn with_routes(self, routes: impl FnOnce(Router) -> Router) -> Self {
        GrpcServer {
            router: routes(self.router),
            health: self.health,
        }
    }

    /// A handle to flip health later (the service decides when it is ready).
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Serves until `shutdown` is cancelled: health turns NOT_SERVING, the listener closes, and
    /// calls in flight finish before this returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), RuntimeError> {
        let addr = listener.local_addr().ok();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let health = self.health;
        tracing::info!(?addr, "grpc listening");
        self.router
            .serve_with_incoming_shutdown(incoming, async move {
                shutdown.cancelled().await;
                health.set(false).await;
                tracing::info!(?addr, "grpc shutting down");
            })
            .await?;
        Ok(())
    }
}

/// Checks what [`channel`] would reject later: a URL of the http or https scheme.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    match endpoint.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(()),
        _ => Err(format!(
            "must be an http:// or https:// URL, got {endpoint:?}"
        )),
    }
}

/// A channel to `endpoint` (`http://host:port`) that connects on first use and reconnects after
/// failures, so a peer that starts later or restarts is not an error at startup.
pub fn channel(
    endpoint: &str,
    config: &GrpcConfig,
    connect_timeout: Duration,
) -> Result<Channel, RuntimeError> {
    let mut e = Channel::from_shared(endpoint.to_string())
        .map_err(|err| RuntimeError::Endpoint {
            endpoint: endpoint.to_string(),
            message: err.to_string(),
        })?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    if let Some((interval, timeout)) = config.keepalive() {
        e = e
            .http2_keep_alive_interval(interval)
            .keep_alive_timeout(timeout);
    }
    Ok(e.connect_lazy())
}

/// Parses a `grpc-timeout` header value: 1 to 8 ASCII digits and a unit (`H`, `M`, `S`, `m`,
/// `u`, `n`), nothing else (no sign, no fraction), as the gRPC HTTP/2 spec writes it.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 || !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The caller's deadline, from its `grpc-timeout` header.
pub fn deadline_of<T>(req: &tonic::Request<T>) -> Option<Duration> {
    req.metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in [
            "",
            "m",
            "100",
            "123456789S",
            "1x",
            "-1S",
            "+1S",
            "1.5S",
            " 1S",
            "1s",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn tls_paths_come_in_pairs() {
        assert_eq!(TlsFiles::from_paths("", "", ""), Ok(None));
        assert!(TlsFiles::from_paths("c.pem", "", "").is_err());
        assert!(TlsFiles::from_paths("", "k.pem", "").is_err());
        assert!(TlsFiles::from_paths("", "", "ca.pem").is_err());
        let t = TlsFiles::from_paths("c.pem", "k.pem", "ca.pem")
            .unwrap()
            .unwrap();
        assert_eq!(t.client_ca, Some(PathBuf::from("ca.pem")));
    }

    #[tokio::test]
    async fn health_flips_and_reflection_is_routed() {
        let server = GrpcServer::new(&GrpcConfig::default(), None, &["test.v1.Thing"])
            .await
            .unwrap();
        let health = server.health();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let serving = tokio::spawn(server.serve(listener, stop.clone()));
        let ch = channel(
            &format!("http://{addr}"),
            &GrpcConfig::default(),
            Duration::from_secs(2),
        )
        .unwrap();
        let mut client = tonic_health::pb::health_client::HealthClient::new(ch);
        let check = |name: &str| tonic_health::pb::HealthCheckRequest {
            service: name.to_string(),
        };
        let status = |r: tonic_health::pb::HealthCheckResponse| r.status;
        use tonic_health::pb::health_check_response::ServingStatus as S;
        let r = client.check(check("test.v1.Thing")).await.unwrap();
        assert_eq!(status(r.into_inner()), S::NotServing as i32);
        health.set(true).await;
        let r = client.check(check("")).await.unwrap();
        assert_eq!(status(r.into_inner()), S::Serving as i32);
        stop.cancel();
        serving.await.unwrap().unwrap();
    }
}
