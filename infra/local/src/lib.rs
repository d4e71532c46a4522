//! `qrpay-local`: the whole of qrpay on one machine. One HTTP server on
//! loopback serves every route of API.md by calling the same handler code
//! the Lambdas run: [`jwt`] checks a development token as API Gateway's JWT
//! authorizer would, [`gateway`] turns the request into the API Gateway v2
//! event the Lambda would receive, and [`stack`] hands that event to the
//! function's handler. [`background`] runs the payout worker and the
//! sweeper, [`sandbox`] is the sandbox payment provider, [`providers`]
//! simulates WeChat Pay, Alipay and Douyin Pay on their wire protocols, and
//! [`demo`] walks through the whole story.

pub mod aws;
pub mod background;
pub mod client;
pub mod console;
pub mod demo;
mod demo_export;
mod demo_providers;
mod demo_receivables;
mod demo_resolution;
pub mod gateway;
pub mod jwt;
pub mod local_http;
mod local_runs;
pub mod provider_setup;
pub mod providers;
pub mod queue;
pub mod routes;
pub mod sandbox;
pub mod seed;
pub mod server;
pub mod stack;
pub mod webdriver;

use std::net::SocketAddr;
use std::sync::Arc;

pub use stack::{Backend, Options, Stack};

/// The address when `QRPAY_ADDR` is not set.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// A running stack: serving, its worker and sweeper started, the demo
/// world set up.
pub struct Running {
    pub addr: SocketAddr,
    pub stack: Arc<Stack>,
    pub demo: seed::Demo,
}

/// Binds `addr`, builds the stack, starts serving and the background work,
/// and seeds the demo world.
pub async fn start(
    addr: SocketAddr,
    options: impl FnOnce(String) -> Options,
) -> Result<Running, String> {
    let listener = server::bind(addr).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let options = options(format!("http://{addr}"));
    // Anyone who can reach a non-loopback address could mint tokens, sign
    // sandbox callbacks or payment links with the published defaults.
    let defaults = options.default_secrets();
    if !addr.ip().is_loopback() && !defaults.is_empty() {
        return Err(format!(
            "refusing to listen on {addr}, which is not a loopback address, while {} keep their \
             published defaults: set them to secrets of your own, or listen on 127.0.0.1",
            defaults.join(", ")
        ));
    }
    let jwt_secret = options.jwt_secret.clone();
    let stack = Stack::new(options).await?;
    tokio::spawn(server::serve(listener, stack.clone()));
    background::spawn(stack.clone());
    let demo = seed::seed(&client::Client::new(addr.to_string()), jwt_secret.expose()).await?;
    Ok(Running { addr, stack, demo })
}
