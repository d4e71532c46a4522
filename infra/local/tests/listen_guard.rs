//! `qrpay-local` refuses an address other machines can reach while any of
//! its secrets is still the published default (issue 14): a development
//! token, a sandbox callback or a payment link could be forged by anyone on
//! the network. On loopback the defaults are fine.

use qrpay_domain::Secret;
use qrpay_local::{Backend, Options};

fn options(url: String, dir: &std::path::Path, own: &[&str]) -> Options {
    let mut o = Options::from_env(dir.to_path_buf(), Backend::Embedded, url);
    for name in own {
        let secret = Secret::new(format!("{name}-not-the-default-0123456789"));
        match *name {
            "QRPAY_DEV_JWT_SECRET" => o.jwt_secret = secret,
            "QRPAY_SANDBOX_SECRET" => o.sandbox_secret = secret,
            _ => o.qr_token_secret = secret,
        }
    }
    o
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_address_with_a_default_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let refused = qrpay_local::start("0.0.0.0:0".parse().unwrap(), move |url| {
        options(
            url,
            &path,
            &["QRPAY_DEV_JWT_SECRET", "QRPAY_SANDBOX_SECRET"],
        )
    })
    .await;
    let Err(message) = refused else {
        panic!("started on 0.0.0.0 with the default payment-token secret");
    };
    assert!(message.contains("not a loopback address"), "{message}");
    assert!(message.contains("QRPAY_QR_TOKEN_SECRET"), "{message}");
    assert!(!message.contains("QRPAY_DEV_JWT_SECRET"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_address_with_secrets_of_its_own_and_loopback_with_defaults_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let own = [
        "QRPAY_DEV_JWT_SECRET",
        "QRPAY_SANDBOX_SECRET",
        "QRPAY_QR_TOKEN_SECRET",
    ];
    let running = qrpay_local::start("0.0.0.0:0".parse().unwrap(), move |url| {
        options(url, &path, &own)
    })
    .await
    .expect("own secrets: any address");
    assert!(running.addr.ip().is_unspecified());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let local = qrpay_local::start("127.0.0.1:0".parse().unwrap(), move |url| {
        options(url, &path, &[])
    })
    .await
    .expect("defaults on loopback");
    assert!(local.addr.ip().is_loopback());
}
