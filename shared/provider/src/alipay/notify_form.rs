//! A notify's form body as Alipay sends it, and the bytes its `sign` covers.
//!
//! - The body is `application/x-www-form-urlencoded`; its values are
//!   percent-encoded bytes of the text in the notify's own `charset`
//!   parameter (`utf-8`, `gbk` or `gb2312`; https://opendocs.alipay.com/open/270/105902
//!   lists `charset` as "编码格式，如utf-8、gbk、gb2312等"). Each key and
//!   value is percent-decoded to bytes, then decoded with that charset,
//!   strictly (a byte sequence the charset does not define is refused).
//! - The signed content is every parameter except `sign` and `sign_type`,
//!   **empty values included** (`k=`), sorted by key, joined `k=v&k=v`:
//!   "除去sign、sign_type两个参数外，凡是通知返回回来的参数皆是待验签的参数"
//!   (https://opendocs.alipay.com/common/02mse7, 异步通知验签). Alipay's Java
//!   SDK does the same (`AlipaySignature.getSignCheckContentV1` appends
//!   `key=value` for every remaining key), and so does python-alipay-sdk's
//!   `verify`. "空值不参与签名" is the rule for signing a *request*, not
//!   for checking a notify.
//! - The signature is over that text encoded in the same charset
//!   (`rsaCheckV1(params, key, charset)` signs `content.getBytes(charset)`).

use encoding_rs::{Encoding, GBK, UTF_8};
use percent_encoding::percent_decode;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use sha2::Sha256;

use super::rsa2::Params;
use super::MAX_PARAMS;
use crate::notice::{quoted, CallbackError};

/// The parameters of a notify and the charset they were written in.
#[derive(Debug)]
pub(super) struct Form {
    pub(super) params: Params,
    pub(super) encoding: &'static Encoding,
}

impl Form {
    /// Splits and decodes the form: no duplicate keys (what is signed and
    /// what is read must be the same values), at most `MAX_PARAMS`.
    pub(super) fn parse(body: &[u8]) -> Result<Form, CallbackError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| CallbackError::malformed("body is not UTF-8 form data"))?;
        let pairs: Vec<(&str, &str)> = text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .collect();
        if pairs.len() > MAX_PARAMS {
            return Err(CallbackError::Malformed(format!(
                "more than {MAX_PARAMS} parameters"
            )));
        }
        let encoding = charset(&pairs)?;
        let mut params = Params::new();
        for (key, value) in pairs {
            let key = decode(key, encoding)?;
            if key.is_empty() {
                return Err(CallbackError::malformed("a parameter has no name"));
            }
            if params.contains_key(&key) {
                return Err(CallbackError::Malformed(format!(
                    "parameter {} appears twice",
                    quoted(&key)
                )));
            }
            let value = decode(value, encoding)?;
            params.insert(key, value);
        }
        Ok(Form { params, encoding })
    }

    /// What Alipay signs: every parameter but `sign` and `sign_type`, empty
    /// values included, sorted by key (a `BTreeMap` iterates in byte order).
    pub(super) fn signed_content(&self) -> String {
        signed_content(&self.params)
    }

    /// Whether `signature` is one of `keys`' over the signed content in the
    /// notify's charset.
    pub(super) fn verifies(&self, keys: &[VerifyingKey<Sha256>], signature: &Signature) -> bool {
        let content = self.signed_content();
        let (bytes, _, unmappable) = self.encoding.encode(&content);
        !unmappable && keys.iter().any(|key| key.verify(&bytes, signature).is_ok())
    }
}

/// Every parameter but `sign` and `sign_type`, empty values included,
/// sorted by key, `k=v` joined by `&`.
pub(super) fn signed_content(params: &Params) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "sign" && k.as_str() != "sign_type")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The encoding the `charset` parameter names (its value is ASCII in every
/// charset we read); UTF-8 when there is none.
fn charset(pairs: &[(&str, &str)]) -> Result<&'static Encoding, CallbackError> {
    let mut named = pairs.iter().filter(|(k, _)| *k == "charset");
    let Some((_, value)) = named.next() else {
        return Ok(UTF_8);
    };
    let value = decode(value, UTF_8)?;
    encoding_of(&value).ok_or_else(|| {
        CallbackError::Unsupported(format!("charset {} (utf-8, gbk or gb2312)", quoted(&value)))
    })
}

/// `utf-8`, `gbk` or `gb2312`, in any case. GB2312 is a subset of GBK, so
/// one GBK decoder reads both (WHATWG maps the label gb2312 to GBK too).
pub(crate) fn encoding_of(charset: &str) -> Option<&'static Encoding> {
    match charset.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Some(UTF_8),
        "gbk" | "gb2312" => Some(GBK),
        _ => None,
    }
}

/// Percent-decodes (`+` is a space) and decodes the bytes in `encoding`.
fn decode(text: &str, encoding: &'static Encoding) -> Result<String, CallbackError> {
    let spaced = text.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    encoding
        .decode_without_bom_handling_and_without_replacement(&bytes)
        .map(|text| text.into_owned())
        .ok_or_else(|| {
            CallbackError::Malformed(format!(
                "a parameter is not valid {} (the notify's charset)",
                encoding.name()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_content_keeps_empty_values_and_drops_only_sign_and_sign_type() {
        let form = Form::parse(b"b=2&sign=xx&a=1+2&sign_type=RSA2&c=&d=%E5%BC%A0").unwrap();
        assert_eq!(form.signed_content(), "a=1 2&b=2&c=&d=张");
    }

    #[test]
    fn gbk_forms_decode_by_their_charset_parameter() {
        // 张三 in GBK, percent-encoded as a GBK form sends it.
        let form = Form::parse(b"buyer_name=%D5%C5%C8%FD&charset=GBK").unwrap();
        assert_eq!(form.params["buyer_name"], "张三");
        assert_eq!(form.encoding, GBK);
        let form = Form::parse(b"charset=gb2312&subject=%B2%E2%CA%D4").unwrap();
        assert_eq!(form.params["subject"], "测试");
        // The same bytes without the charset are not UTF-8.
        assert!(Form::parse(b"buyer_name=%D5%C5%C8%FD").is_err());
    }

    #[test]
    fn unknown_charsets_duplicates_and_nameless_parameters_are_refused() {
        assert!(matches!(
            Form::parse(b"charset=big5&a=1"),
            Err(CallbackError::Unsupported(_))
        ));
        assert!(Form::parse(b"a=1&a=1").is_err());
        assert!(Form::parse(b"=1").is_err());
    }
}
