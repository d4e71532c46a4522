//! The outbound HTTP transport every provider adapter sends through
//! (`qrpay_provider::gateway::HttpTransport`): HTTPS trusting the compiled-in
//! roots (`crate::roots`; plain HTTP only for a loopback simulator), a connect timeout
//! and a total timeout per request, both below the caller's deadline
//! (SPEC §9). No retries here: a request that timed out may have reached the
//! provider, so the adapter decides what happens next (query first).

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use qrpay_provider::gateway::{HttpRequest, HttpResponse, HttpTransport, TransportError};

use crate::config::Deadline;

/// The most of an answer we read: provider answers are a few kilobytes.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How long one provider call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub connect: Duration,
    /// From sending the request to the last byte of the answer.
    pub total: Duration,
}

impl Deadline {
    /// The limits of one provider call for this caller. A worker step makes
    /// at most two calls (query, then transfer) and a few store operations
    /// inside its 30 s; an API route (a checkout creating the provider
    /// order) one call, with a query only on an unclear answer, in its 10 s.
    pub fn provider_timeouts(self) -> HttpTimeouts {
        let (connect_ms, total_ms) = match self {
            Deadline::Api => (1_000, 3_000),
            Deadline::Callback => (500, 1_500),
            Deadline::Worker => (2_000, 8_000),
            Deadline::Batch => (3_000, 60_000),
        };
        HttpTimeouts {
            connect: Duration::from_millis(connect_ms),
            total: Duration::from_millis(total_ms),
        }
    }
}

type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Built on its first call, not at cold start: parsing the root
/// certificates costs a millisecond, and a function whose providers are not
/// configured, or a route that calls none, never pays them.
pub struct HyperTransport {
    client: OnceLock<Result<HyperClient, String>>,
    timeouts: HttpTimeouts,
}

impl HyperTransport {
    pub fn new(timeouts: HttpTimeouts) -> Result<HyperTransport, String> {
        Ok(HyperTransport {
            client: OnceLock::new(),
            timeouts,
        })
    }

    fn build_client(timeouts: HttpTimeouts) -> Result<HyperClient, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeouts.connect));
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("no usable TLS versions: {e}"))?
            .with_root_certificates(crate::roots::root_store())
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Client::builder(TokioExecutor::new()).build(https))
    }

    fn client(&self) -> Result<&HyperClient, TransportError> {
        self.client
            .get_or_init(|| Self::build_client(self.timeouts))
            .as_ref()
            .map_err(|e| TransportError::Connect(e.clone()))
    }

    async fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (mut answer, body) = self.answer(request).await?;
        let limited = http_body_util::Limited::new(body, MAX_ANSWER_BYTES);
        answer.body = limited
            .collect()
            .await
            .map_err(|e| TransportError::Other(format!("answer not read: {e}")))?
            .to_bytes()
            .to_vec();
        Ok(answer)
    }

    /// The answer's status and headers (body empty), and its body to read.
    async fn answer(
        &self,
        request: HttpRequest,
    ) -> Result<(HttpResponse, hyper::body::Incoming), TransportError> {
        let mut builder = hyper::Request::builder()
            .method(request.method)
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let outgoing = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| TransportError::Other(format!("request not built: {e}")))?;
        let answer = self.client()?.request(outgoing).await.map_err(|e| {
            // With each cause: hyper's own text is only "client error
            // (Connect)", whatever failed (DNS, refused, a certificate).
            if e.is_connect() {
                TransportError::Connect(crate::error_text(&e))
            } else {
                TransportError::Other(crate::error_text(&e))
            }
        })?;
        let status = answer.status().as_u16();
        let headers = answer
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let head = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        Ok((head, answer.into_body()))
    }

    /// The answer's body streamed into `dest`, at most `max_bytes`.
    async fn download_to(
        &self,
        request: HttpRequest,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> Result<HttpResponse, TransportError> {
        use tokio::io::AsyncWriteExt;
        let written = |e: std::io::Error| TransportError::Other(format!("answer not written: {e}"));
        let (answer, mut body) = self.answer(request).await?;
        let mut file = tokio::fs::File::create(dest).await.map_err(written)?;
        let mut total: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| TransportError::Other(format!("answer not read: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total = total.saturating_add(data.len() as u64);
            if total > max_bytes {
                return Err(TransportError::Other(format!(
                    "answer over {max_bytes} bytes"
                )));
            }
            file.write_all(&data).await.map_err(written)?;
        }
        file.flush().await.map_err(written)?;
        Ok(answer)
    }
}

/// How long a file (a provider's bill) may take to come down: bills are
/// fetched by the batch job, far from any caller's deadline.
pub const DOWNLOAD_TOTAL: Duration = Duration::from_secs(600);

#[async_trait]
impl HttpTransport for HyperTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let total = self.timeouts.total;
        tokio::time::timeout(total, self.exchange(request))
            .await
            .unwrap_or(Err(TransportError::Timeout(total)))
    }

    async fn download(
        &self,
        request: HttpRequest,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> Result<HttpResponse, TransportError> {
        let total = DOWNLOAD_TOTAL.max(self.timeouts.total);
        tokio::time::timeout(total, self.download_to(request, dest, max_bytes))
            .await
            .unwrap_or(Err(TransportError::Timeout(total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn get(url: String) -> HttpRequest {
        HttpRequest {
            method: http::Method::GET,
            url,
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        }
    }

    fn quick() -> HttpTimeouts {
        HttpTimeouts {
            connect: Duration::from_millis(300),
            total: Duration::from_millis(400),
        }
    }

    /// A one-shot server: reads a request, waits `delay`, answers `answer`.
    async fn server(answer: &'static str, delay: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            tokio::time::sleep(delay).await;
            let _ = socket.write_all(answer.as_bytes()).await;
        });
        format!("http://{addr}/v3/x?mchid=1")
    }

    #[tokio::test]
    async fn an_answer_comes_back_with_its_status_headers_and_body() {
        let url = server(
            "HTTP/1.1 404 Not Found\r\nWechatpay-Serial: PUB_KEY_ID_1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            Duration::ZERO,
        )
        .await;
        let answer = HyperTransport::new(quick())
            .unwrap()
            .send(get(url))
            .await
            .unwrap();
        assert_eq!(answer.status, 404);
        assert_eq!(answer.header("wechatpay-serial"), Some("PUB_KEY_ID_1"));
        assert_eq!(answer.body, b"{}");
    }

    #[tokio::test]
    async fn a_slow_provider_is_a_timeout_not_a_failure() {
        let url = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Duration::from_secs(3),
        )
        .await;
        let err = HyperTransport::new(quick())
            .unwrap()
            .send(get(url))
            .await
            .unwrap_err();
        assert_eq!(err, TransportError::Timeout(Duration::from_millis(400)));
    }

    #[tokio::test]
    async fn nobody_listening_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = HyperTransport::new(quick())
            .unwrap()
            .send(get(format!("http://{addr}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
    }

    /// A bill comes down to a file, chunk by chunk, past the 1 MiB an
    /// answer may weigh; one over the caller's limit is refused.
    #[tokio::test]
    async fn a_file_is_streamed_to_disk_within_its_limit() {
        let body = "x".repeat(1536 * 1024);
        let answer: &'static str = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("bill");
        let transport = HyperTransport::new(quick()).unwrap();
        let head = transport
            .download(get(server(answer, Duration::ZERO).await), &dest, 2 << 20)
            .await
            .unwrap();
        assert_eq!((head.status, head.body.len()), (200, 0));
        assert_eq!(std::fs::read(&dest).unwrap(), body.as_bytes());
        let err = transport
            .download(get(server(answer, Duration::ZERO).await), &dest, 1 << 20)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            TransportError::Other(format!("answer over {} bytes", 1 << 20))
        );
    }

    #[test]
    fn provider_calls_end_well_before_each_callers_deadline() {
        for deadline in Deadline::ALL {
            let t = deadline.provider_timeouts();
            assert!(t.connect < t.total, "{deadline:?}");
            // Two calls and the store's own operations still fit.
            assert!(t.total * 2 < deadline.limits().deadline, "{deadline:?}");
        }
    }
}
