//! POS devices over HTTPS (API.md "POS devices", SPEC §3): every request is
//! signed with the device's own secret over
//! `METHOD \n PATH \n QUERY \n TIMESTAMP \n NONCE \n BODY`, where QUERY is
//! the raw query string exactly as sent (without the `?`; empty when there is
//! none); the timestamp must be within 300 s of now and each nonce is
//! accepted once. An unknown device and a bad signature get the same answer,
//! so the caller cannot tell which devices exist; the log tells them apart.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use lambda_http::Request;
use qrpay_domain::{Device, DeviceId};
use qrpay_http::{raw_body, ApiError};
use qrpay_store::keyring::KeyringError;
use sha2::Sha256;

use crate::App;

pub const DEVICE_HEADER: &str = "x-qrpay-device";
pub const TIMESTAMP_HEADER: &str = "x-qrpay-timestamp";
pub const NONCE_HEADER: &str = "x-qrpay-nonce";
pub const SIGNATURE_HEADER: &str = "x-qrpay-signature";
/// How far a request's timestamp may be from our clock, either way.
pub const WINDOW_S: i64 = 300;
/// A nonce is remembered until its timestamp can no longer pass the window.
pub const NONCE_RETENTION_S: i64 = 2 * WINDOW_S;
pub const NONCE_LEN: std::ops::RangeInclusive<usize> = 8..=64;

/// A device request's parts that are signed before the body.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string as sent, without `?` ("" when there is none).
    pub query: &'a str,
    pub timestamp: i64,
    pub nonce: &'a str,
}

/// The signature a device sends: lowercase hex HMAC-SHA256.
pub fn sign(secret: &[u8], head: Signed<'_>, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(&message_head(head));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length")
}

fn message_head(head: Signed<'_>) -> Vec<u8> {
    let Signed {
        method,
        path,
        query,
        timestamp,
        nonce,
    } = head;
    format!("{method}\n{path}\n{query}\n{timestamp}\n{nonce}\n").into_bytes()
}

/// What the caller is told for an unknown device and for a bad signature
/// alike.
const NOT_VERIFIED: &str = "the signature does not verify for this device";

fn refused(reason: &str) -> ApiError {
    ApiError::unauthenticated(format!("device request refused: {reason}"))
}

fn header<'a>(req: &'a Request, name: &str) -> Result<&'a str, ApiError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused(&format!("the {name} header is required")))
}

fn nonce_ok(nonce: &str) -> bool {
    NONCE_LEN.contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The device behind a signed request to `/devices/{path_device}/…`, or 401.
pub async fn authenticate(app: &App, req: &Request, path_device: &str) -> Result<Device, ApiError> {
    let device_id = DeviceId::parse(path_device).map_err(|_| {
        tracing::warn!("request for a malformed device id");
        refused(NOT_VERIFIED)
    })?;
    if header(req, DEVICE_HEADER)? != device_id.as_str() {
        return Err(refused("X-Qrpay-Device does not match the path"));
    }
    let now = app.clock.now();
    let timestamp: i64 = header(req, TIMESTAMP_HEADER)?
        .parse()
        .map_err(|_| refused("X-Qrpay-Timestamp must be unix seconds"))?;
    // The timestamp is the caller's: its distance from now is taken without
    // overflow, so an absurd one (i64::MIN) is refused as a stale one.
    if now.timestamp().abs_diff(timestamp) > WINDOW_S.unsigned_abs() {
        return Err(refused("timestamp is more than 300 s from now"));
    }
    let nonce = header(req, NONCE_HEADER)?;
    if !nonce_ok(nonce) {
        return Err(refused(
            "X-Qrpay-Nonce must be 8-64 characters of A-Z a-z 0-9 - _ .",
        ));
    }
    let signature = hex::decode(header(req, SIGNATURE_HEADER)?)
        .map_err(|_| refused("X-Qrpay-Signature must be hex"))?;
    let Some(device) = app.shops.get_device(&device_id).await? else {
        tracing::warn!(device_id = %device_id, "request from an unregistered device");
        return Err(refused(NOT_VERIFIED));
    };
    // Sealed in the store, bound to this device id (a ciphertext copied from
    // another device's record does not open); opened only here.
    let secret = match app.device_keys.open(&device_id, &device.secret).await {
        Ok(secret) => secret,
        Err(KeyringError::Unavailable(detail)) => {
            return Err(ApiError::unavailable(format!("device keyring: {detail}")))
        }
        Err(err) => {
            tracing::error!(device_id = %device_id, error = %err, "device secret does not open");
            return Err(refused(NOT_VERIFIED));
        }
    };
    let mut mac = mac(secret.expose().as_bytes());
    mac.update(&message_head(Signed {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query().unwrap_or(""),
        timestamp,
        nonce,
    }));
    mac.update(raw_body(req));
    if mac.verify_slice(&signature).is_err() {
        tracing::warn!(device_id = %device_id, "bad device signature");
        return Err(refused(NOT_VERIFIED));
    }
    let keep_until = claim_expiry(now, timestamp);
    if !app
        .collection
        .claim_nonce(&device_id, nonce, now, keep_until)
        .await?
    {
        tracing::warn!(device_id = %device_id, "replayed device nonce");
        return Err(refused("nonce already used"));
    }
    Ok(device)
}

fn claim_expiry(now: DateTime<Utc>, timestamp: i64) -> DateTime<Utc> {
    let latest = now.timestamp().max(timestamp);
    DateTime::from_timestamp(latest, 0).unwrap_or(now) + Duration::seconds(NONCE_RETENTION_S)
}
