//! Certificate mode's SNs (GATEWAYS.md §2.3): `app_cert_sn` / `alipay_cert_sn`
//! = lower-case hex MD5 of the issuer DN (RDNs in reverse order of the
//! certificate's sequence, `CN=…,OU=…,O=…,C=…`, no spaces) followed by the
//! serial number in decimal; `alipay_root_cert_sn` = the SNs of the bundle's
//! RSA-signed certificates (signature OID starting `1.2.840.113549.1.1`)
//! joined by `_` in file order. Official Node `antcertutil.getCertSN`,
//! Java `md5(getIssuerX500Principal().getName() + getSerialNumber())`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use rsa::pkcs8::DecodePublicKey;
use rsa::{BigUint, RsaPublicKey};
use x509_cert::der::{Any, Decode, Encode, Tag, Tagged};
use x509_cert::Certificate;

use crate::keys::{check_key_size, KeyError};

const RSA_SIGNATURE_OID_PREFIX: &str = "1.2.840.113549.1.1";
const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";
/// Longest PEM text read (Alipay's root bundle is about 4 KiB).
const MAX_PEM_TEXT: usize = 64 * 1024;

/// What is wrong with a certificate text; never carries the text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("not a readable PEM X.509 certificate")]
    Unreadable,
    #[error("the issuer name holds a value that is not text")]
    IssuerNotText,
    #[error("the root bundle holds no RSA-signed certificate")]
    NoRsaCertificate,
    #[error("the certificate's key is not a usable RSA key: {0}")]
    Key(#[from] KeyError),
}

/// The SN of one PEM certificate (`app_cert_sn`, `alipay_cert_sn`): always
/// 32 lower-case hex characters.
pub fn cert_sn(pem: &str) -> Result<String, CertError> {
    sn_of(&one_certificate(pem)?)
}

/// `alipay_root_cert_sn` of a bundle of PEM certificates (with or without
/// blank lines between them, LF or CRLF).
pub fn root_cert_sn(pem_bundle: &str) -> Result<String, CertError> {
    let mut sns = Vec::new();
    for cert in certificates(pem_bundle)? {
        let oid = cert.signature_algorithm.oid.to_string();
        if oid.starts_with(RSA_SIGNATURE_OID_PREFIX) {
            sns.push(sn_of(&cert)?);
        }
    }
    if sns.is_empty() {
        return Err(CertError::NoRsaCertificate);
    }
    Ok(sns.join("_"))
}

/// The RSA public key of one PEM certificate (Alipay's public certificate).
pub(crate) fn cert_public_key(pem: &str) -> Result<RsaPublicKey, CertError> {
    let spki = one_certificate(pem)?
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| CertError::Unreadable)?;
    let key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|_| CertError::Key(KeyError::Unreadable("certificate key")))?;
    Ok(check_key_size(key)?)
}

fn one_certificate(pem: &str) -> Result<Certificate, CertError> {
    let mut certs = certificates(pem)?;
    match (certs.pop(), certs.is_empty()) {
        (Some(cert), true) => Ok(cert),
        _ => Err(CertError::Unreadable),
    }
}

/// Every `BEGIN/END CERTIFICATE` block, in order; at least one.
fn certificates(text: &str) -> Result<Vec<Certificate>, CertError> {
    if text.len() > MAX_PEM_TEXT {
        return Err(CertError::Unreadable);
    }
    let text = text.replace("\r\n", "\n");
    let mut certs = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let end = rest[start..].find(END).ok_or(CertError::Unreadable)? + start + END.len();
        certs.push(from_base64(&rest[start + BEGIN.len()..end - END.len()])?);
        rest = &rest[end..];
    }
    if certs.is_empty() {
        return Err(CertError::Unreadable);
    }
    Ok(certs)
}

/// One certificate from the base64 between its PEM lines (any line length:
/// Alipay's files wrap at 76 characters, which strict RFC 7468 refuses).
fn from_base64(body: &str) -> Result<Certificate, CertError> {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD
        .decode(compact)
        .map_err(|_| CertError::Unreadable)?;
    Certificate::from_der(&der).map_err(|_| CertError::Unreadable)
}

fn sn_of(cert: &Certificate) -> Result<String, CertError> {
    let tbs = &cert.tbs_certificate;
    let serial = BigUint::from_bytes_be(tbs.serial_number.as_bytes());
    let text = format!("{}{serial}", issuer_dn(cert)?);
    Ok(hex::encode(Md5::digest(text.as_bytes())))
}

/// `CN=…,OU=…,O=…,C=…`: the issuer's RDNs last to first, attributes of a
/// multi-valued RDN joined by `+`, values as written (no escaping, like the
/// official Node SDK).
fn issuer_dn(cert: &Certificate) -> Result<String, CertError> {
    let mut parts = Vec::new();
    for rdn in cert.tbs_certificate.issuer.0.iter().rev() {
        let mut attrs = Vec::new();
        for atv in rdn.0.iter() {
            let value = text_of(&atv.value)?;
            attrs.push(format!("{}={value}", short_name(&atv.oid.to_string())));
        }
        parts.push(attrs.join("+"));
    }
    Ok(parts.join(","))
}

fn text_of(value: &Any) -> Result<String, CertError> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            std::str::from_utf8(value.value())
                .map(str::to_owned)
                .map_err(|_| CertError::IssuerNotText)
        }
        _ => Err(CertError::IssuerNotText),
    }
}

/// RFC 4514 short names (what Java and Node print); others as dotted OIDs.
fn short_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Official Node SDK fixtures (alipay/alipay-sdk-nodejs-all test/fixtures);
    // the SNs are the SDK's and python-alipay-sdk 3.4.0's.
    const APP_CERT: &str =
        include_str!("../../tests/data/alipay/appCertPublicKey_2021001161683774.crt");
    const ALIPAY_CERT: &str = include_str!("../../tests/data/alipay/alipayCertPublicKey_RSA2.crt");

    #[test]
    fn the_official_fixtures_give_the_official_sns() {
        assert_eq!(
            cert_sn(APP_CERT).unwrap(),
            "866efef280dec9137a87d047ac446315"
        );
        assert_eq!(
            cert_sn(ALIPAY_CERT).unwrap(),
            "7513daaaa48aa3ba2e4018d84402479c"
        );
    }

    #[test]
    fn bundles_split_without_blank_lines_and_with_crlf() {
        let bundle = format!("{}{}", APP_CERT.trim_end(), ALIPAY_CERT).replace('\n', "\r\n");
        assert_eq!(
            root_cert_sn(&bundle).unwrap(),
            "866efef280dec9137a87d047ac446315_7513daaaa48aa3ba2e4018d84402479c"
        );
        assert_eq!(cert_sn(&bundle), Err(CertError::Unreadable));
        assert_eq!(cert_sn("garbage"), Err(CertError::Unreadable));
        assert_eq!(root_cert_sn(""), Err(CertError::Unreadable));
    }

    #[test]
    fn the_public_key_comes_from_the_certificate() {
        assert!(cert_public_key(ALIPAY_CERT).is_ok());
    }
}
