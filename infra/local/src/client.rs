//! A small HTTP/1.1 client for the demo and the tests: one connection per
//! request, JSON in and out.

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `error.code` of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One request and its answer, as a recording client keeps them.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub answer: Answer,
}

#[derive(Debug, Clone)]
pub struct Client {
    /// `host:port`
    pub addr: String,
    recorded: Option<Arc<Mutex<Vec<Exchange>>>>,
}

impl Client {
    pub fn new(addr: impl Into<String>) -> Client {
        Client {
            addr: addr.into(),
            recorded: None,
        }
    }

    /// A client that keeps every exchange (tests check them afterwards).
    pub fn recording(addr: impl Into<String>) -> Client {
        Client {
            recorded: Some(Arc::default()),
            ..Client::new(addr)
        }
    }

    /// What a recording client has seen so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.recorded
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Sends one request; `token` becomes a bearer token.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, String> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let answer = Answer {
            status: parts.status.as_u16(),
            headers: crate::local_http::header_pairs(&parts.headers),
            body: body.to_vec(),
        };
        if let Some(recorded) = &self.recorded {
            recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Exchange {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    answer: answer.clone(),
                });
        }
        Ok(answer)
    }

    pub async fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        self.send(
            method,
            path,
            token,
            &[],
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }
}
