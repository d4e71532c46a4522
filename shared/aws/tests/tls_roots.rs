//! Both outbound TLS clients (the SDK's, `qrpay_aws::roots::sdk_http_client`,
//! and the provider transport, `HyperTransport`) verify the server against
//! the compiled-in roots: a server whose certificate no trusted root issued
//! (here a self-signed one for `localhost`) is refused during the handshake,
//! before any request is sent.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use qrpay_aws::http::{HttpTimeouts, HyperTransport};
use qrpay_provider::gateway::{HttpRequest, HttpTransport, TransportError};

/// A TLS server on loopback presenting a self-signed certificate for
/// `localhost`; it answers every handshake it can and records what it read.
fn untrusted_server() -> u16 {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a cert");
    let cert = key.cert.der().clone();
    let private =
        rustls::pki_types::PrivateKeyDer::try_from(key.key_pair.serialize_der()).expect("a key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut tcp) = stream else { return };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(mut tls) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
            let mut buf = [0u8; 1024];
            // The client aborts the handshake: this read fails.
            let _ = stream.read(&mut buf);
        }
    });
    port
}

#[tokio::test]
async fn the_sdk_client_refuses_a_certificate_no_trusted_root_issued() {
    let port = untrusted_server();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_dynamodb::config::Region::new("ap-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .endpoint_url(format!("https://localhost:{port}"))
        .http_client(qrpay_aws::roots::sdk_http_client())
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let error = client
        .list_tables()
        .send()
        .await
        .expect_err("an untrusted server is refused");
    let text = qrpay_aws::error_text(&error);
    assert!(text.contains("UnknownIssuer"), "{text}");
}

#[tokio::test]
async fn the_provider_transport_refuses_a_certificate_no_trusted_root_issued() {
    let port = untrusted_server();
    let transport = HyperTransport::new(HttpTimeouts {
        connect: Duration::from_secs(2),
        total: Duration::from_secs(5),
    })
    .expect("a transport");
    let answer = transport
        .send(HttpRequest {
            method: http::Method::GET,
            url: format!("https://localhost:{port}/v3/certificates"),
            headers: vec![],
            body: vec![],
        })
        .await;
    match answer {
        Err(TransportError::Connect(text)) => assert!(text.contains("UnknownIssuer"), "{text}"),
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}
