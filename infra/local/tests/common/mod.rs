//! The local stack inside the test process: the embedded store, a free
//! loopback port and a data directory of its own, removed with it.

use qrpay_local::client::{Answer, Client};
use qrpay_local::{Backend, Options, Running};
use serde_json::Value;

pub struct World {
    pub running: Running,
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub async fn world() -> World {
    world_on(Backend::Embedded).await
}

/// The local stack on `backend` (the embedded store, or DynamoDB and SQS).
pub async fn world_on(backend: Backend) -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let running = qrpay_local::start("127.0.0.1:0".parse().unwrap(), move |url| {
        Options::from_env(data, backend, url)
    })
    .await
    .unwrap();
    let client = Client::new(running.addr.to_string());
    World {
        running,
        client,
        _dir: dir,
    }
}

// Each test file uses some of these calls, not all.
#[allow(dead_code)]
impl World {
    /// A request without a token, or with the demo owner's.
    pub async fn call(&self, method: &str, path: &str, owner: bool, body: Option<Value>) -> Answer {
        let token = owner.then(|| self.running.demo.owner.clone());
        self.client
            .json(method, path, token.as_deref(), body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A request with `token` (or none), which must succeed: its JSON.
    pub async fn ok_as(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let a = self
            .client
            .json(method, path, token, body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(a.status < 300, "{method} {path}: {} {}", a.status, a.text());
        a.json()
    }

    /// The demo owner's refund of `amount` of the demo shop's `order`,
    /// under the `Idempotency-Key` `rk-{order}`.
    pub async fn owner_refund(&self, order: &str, amount: &str) -> Answer {
        let body = serde_json::json!({"amount": amount, "reason": "少发一件"}).to_string();
        let path = format!("/shops/demo-shop/orders/{order}/refunds");
        self.client
            .send(
                "POST",
                &path,
                Some(self.running.demo.owner.as_str()),
                &[("idempotency-key", &format!("rk-{order}"))],
                Some(body.into_bytes()),
            )
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// The demo owner's request, which must succeed: its JSON.
    pub async fn owner_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.call(method, path, true, body).await;
        assert!(answer.status < 300, "{method} {path}: {}", answer.text());
        answer.json()
    }
}
