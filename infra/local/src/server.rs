//! The HTTP/1.1 server on loopback: each request is read whole (bounded,
//! like API Gateway's payload limit), handed to the stack, and answered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lambda_http::http::StatusCode;
use qrpay_http::ApiError;
use tokio::net::TcpListener;

use crate::local_http::{header_pairs, LocalRequest, LocalResponse};
use crate::stack::Stack;

/// API Gateway's largest request payload (10 MB).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// Serves `stack` on `listener` until the process ends.
pub async fn serve(listener: TcpListener, stack: Arc<Stack>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("qrpay-local: accept failed: {e}");
                continue;
            }
        };
        let stack = stack.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let stack = stack.clone();
                async move { Ok::<_, Infallible>(answer(&stack, request).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

/// Binds `addr` (loopback only unless told otherwise).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr}: it is in use (another qrpay-local?); \
                 choose another address, e.g. QRPAY_ADDR=127.0.0.1:3001"
        ),
        _ => format!("cannot listen on {addr}: {e}"),
    })
}

async fn answer(stack: &Stack, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            return to_hyper(LocalResponse::error(ApiError::new(
                qrpay_http::ErrorCode::PayloadTooLarge,
                format!("requests are at most {MAX_REQUEST_BYTES} bytes"),
            )))
        }
    };
    let headers = header_pairs(&parts.headers);
    let local = LocalRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body,
    };
    let (method, path) = (local.method.clone(), local.path.clone());
    let response = stack.handle(local).await;
    tracing::info!(%method, %path, status = response.status, "request");
    to_hyper(response)
}

fn to_hyper(response: LocalResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| {
            let mut fallback = Response::new(Full::new(Bytes::new()));
            *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}
