//! The local stack inside the test process: the embedded store, a free
//! loopback port and a data directory of its own, removed with it.

use qrpay_local::client::Client;
use qrpay_local::{Backend, Options, Running};

pub struct World {
    pub running: Running,
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let running = qrpay_local::start("127.0.0.1:0".parse().unwrap(), move |url| {
        Options::from_env(data, Backend::Embedded, url)
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
