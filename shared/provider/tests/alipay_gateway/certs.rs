//! Fresh X.509 certificates for certificate mode, made in the test: a
//! root CA, the app's certificate (for the app key) and Alipay's public
//! certificate (for Alipay's answer key), issued like Alipay's
//! (`C=CN,O=Ant Financial,OU=Certification Authority,CN=…`).

use std::str::FromStr;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use x509_cert::der::asn1::{BitString, ObjectIdentifier, UtcTime};
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

/// sha256WithRSAEncryption.
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";

fn name(cn: &str) -> Name {
    Name::from_str(&format!(
        "CN={cn},OU=Certification Authority,O=Ant Financial,C=CN"
    ))
    .expect("a distinguished name")
}

/// A PEM certificate for `subject_key`, issued by `issuer_cn` and signed
/// with `issuer_key`.
pub fn certificate(
    subject_cn: &str,
    subject_key: &RsaPublicKey,
    issuer_cn: &str,
    issuer_key: &RsaPrivateKey,
    serial: u32,
) -> String {
    let algorithm = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap(SHA256_WITH_RSA),
        parameters: Some(Any::null()),
    };
    let spki_der = subject_key.to_public_key_der().expect("SPKI DER");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    let at = |d: Duration| Time::UtcTime(UtcTime::from_unix_duration(d).expect("a UTC time"));
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial.to_be_bytes()).expect("a serial"),
        signature: algorithm.clone(),
        issuer: name(issuer_cn),
        validity: Validity {
            not_before: at(now - Duration::from_secs(86_400)),
            not_after: at(now + Duration::from_secs(365 * 86_400)),
        },
        subject: name(subject_cn),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes())
            .expect("SPKI"),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let tbs_der = tbs.to_der().expect("TBS DER");
    let signature = SigningKey::<Sha256>::new(issuer_key.clone()).sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature.to_bytes()).expect("a bit string"),
    };
    pem(&cert.to_der().expect("certificate DER"))
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
