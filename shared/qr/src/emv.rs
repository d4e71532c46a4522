//! EMV merchant-presented QR payload (EMVCo QRCPS MPM v1.1), SPEC §3.
//!
//! Scanners that expect an EMV code read a flat tag-length-value string:
//! two-digit tag id, two-digit length, value, ending with tag `63`, a
//! CRC-16/CCITT-FALSE over everything before it (including `6304` itself).
//!
//! Lengths count **characters**, not bytes. For ASCII fields the two are the
//! same; they differ only in the merchant information language template
//! (tag `64`), whose values may be Chinese. The EMVCo specification's own
//! example encodes `最佳运输` with length `04`, so a UTF-8 payload of this
//! module can be longer in bytes than its lengths add up to. The CRC, on the
//! other hand, runs over the UTF-8 bytes.

use thiserror::Error;

/// Merchant category code used when the shop has not chosen one
/// ("miscellaneous and specialty retail").
pub const DEFAULT_MCC: &str = "5999";
/// Globally unique identifier of our merchant account template (tag 26, sub-tag 00).
pub const ACCOUNT_GUID: &str = "cn.qrpay";
/// EMV caps a single value at 99 characters (the length field has two digits).
pub const MAX_VALUE_CHARS: usize = 99;
/// EMV caps the whole payload at 512 characters; decoding refuses more.
pub const MAX_PAYLOAD_CHARS: usize = 512;
/// Tag 59 holds at most 25 characters.
pub const MAX_MERCHANT_NAME_CHARS: usize = 25;
/// Tag 60 holds at most 15 characters.
pub const MAX_MERCHANT_CITY_CHARS: usize = 15;
/// Tag 62 sub-tag 05 (reference label) holds at most 25 characters.
pub const MAX_REFERENCE_CHARS: usize = 25;

const FALLBACK_MERCHANT_NAME: &str = "QRPAY MERCHANT";
const FALLBACK_MERCHANT_CITY: &str = "CN";
/// ISO 4217 numeric code of the yuan (CNY).
const CURRENCY_CNY: &str = "156";
const COUNTRY_CN: &str = "CN";
/// The CRC tag with its fixed length; the CRC covers these four characters too.
const CRC_HEADER: &str = "6304";

/// Why a payload could not be built, parsed or trusted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmvError {
    #[error("tag id {0:?} is not two digits")]
    InvalidTagId(String),
    #[error("value of tag {tag} has {len_chars} characters; EMV allows 1 to 99")]
    ValueLength { tag: String, len_chars: usize },
    #[error("amount {0:?} is not like 88.00 (1 to 10 digits, a dot, 2 digits)")]
    InvalidAmount(String),
    #[error("a dynamic code needs an amount")]
    MissingAmount,
    #[error("a static code carries no amount: the buyer types it")]
    AmountOnStaticCode,
    #[error("merchant category code {0:?} is not 4 digits")]
    InvalidMcc(String),
    #[error("{field} must be printable ASCII, 1 to {max_chars} characters")]
    InvalidText {
        field: &'static str,
        max_chars: usize,
    },
    #[error("payload is empty")]
    Empty,
    #[error("payload is longer than 512 characters")]
    PayloadTooLong,
    #[error("payload is cut short at character {at_char}")]
    Truncated { at_char: usize },
    #[error("length field at character {at_char} is not two digits")]
    InvalidLength { at_char: usize },
    #[error("payload does not end with the CRC tag 6304 and 4 uppercase hex digits")]
    MissingCrc,
    #[error("CRC mismatch: payload says {found}, content gives {computed}")]
    CrcMismatch { found: String, computed: String },
}

/// What goes into one collection code's EMV payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantPayload {
    /// `true` for a one-order code with a fixed amount (`01` = `12`).
    pub dynamic: bool,
    /// Our collection code id; tag 26 sub-tag 01.
    pub qr_id: String,
    /// Our order id for dynamic codes; tag 62 sub-tag 05 (reference label).
    pub reference: Option<String>,
    /// Already formatted yuan, e.g. `"88.00"`. Required when dynamic, refused when static.
    pub amount: Option<String>,
    /// Any text; non-ASCII names also go, untouched, to tag 64.
    pub merchant_name: String,
    /// Any text; reduced to printable ASCII.
    pub merchant_city: String,
    /// ISO 18245 merchant category code, 4 digits.
    pub mcc: String,
}

impl Default for MerchantPayload {
    fn default() -> Self {
        Self {
            dynamic: false,
            qr_id: String::new(),
            reference: None,
            amount: None,
            merchant_name: String::new(),
            merchant_city: String::new(),
            mcc: DEFAULT_MCC.to_owned(),
        }
    }
}

/// One TLV data object: `id` (2 digits) + length (2 digits) + `value`.
///
/// The length counts characters (see the module doc); it must be 1..=99.
pub fn tlv(id: &str, value: &str) -> Result<String, EmvError> {
    if !is_digits(id, 2) {
        return Err(EmvError::InvalidTagId(id.to_owned()));
    }
    let len_chars = value.chars().count();
    if !(1..=MAX_VALUE_CHARS).contains(&len_chars) {
        return Err(EmvError::ValueLength {
            tag: id.to_owned(),
            len_chars,
        });
    }
    Ok(format!("{id}{len_chars:02}{value}"))
}

/// Builds the full payload, CRC included, in the tag order scanners expect.
pub fn encode(payload: &MerchantPayload) -> Result<String, EmvError> {
    let mut out = String::new();
    out += &tlv("00", "01")?;
    out += &tlv("01", if payload.dynamic { "12" } else { "11" })?;
    out += &merchant_account(&payload.qr_id)?;
    out += &tlv("52", checked_mcc(&payload.mcc)?)?;
    out += &tlv("53", CURRENCY_CNY)?;
    if let Some(amount) = checked_amount(payload)? {
        out += &tlv("54", amount)?;
    }
    out += &tlv("58", COUNTRY_CN)?;
    let name = restricted_text(&payload.merchant_name, MAX_MERCHANT_NAME_CHARS);
    out += &tlv("59", or_fallback(&name, FALLBACK_MERCHANT_NAME))?;
    let city = restricted_text(&payload.merchant_city, MAX_MERCHANT_CITY_CHARS);
    out += &tlv("60", or_fallback(&city, FALLBACK_MERCHANT_CITY))?;
    if let Some(reference) = &payload.reference {
        out += &additional_data(reference)?;
    }
    if !payload.merchant_name.is_ascii() {
        out += &language_template(&payload.merchant_name)?;
    }
    out += CRC_HEADER;
    let crc = crc16_ccitt_false(out.as_bytes());
    out += &format!("{crc:04X}");
    Ok(out)
}

/// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0.
///
/// Bitwise rather than table-driven: payloads are a few hundred bytes.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Splits a payload into its top-level `(tag, value)` pairs, in order.
///
/// Templates (26, 62, 64, ...) come back as their raw value; decode them
/// again to read their sub-tags.
pub fn decode(payload: &str) -> Result<Vec<(String, String)>, EmvError> {
    if payload.is_empty() {
        return Err(EmvError::Empty);
    }
    if payload.chars().nth(MAX_PAYLOAD_CHARS).is_some() {
        return Err(EmvError::PayloadTooLong);
    }
    let chars: Vec<char> = payload.chars().collect();
    let mut objects = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let (object, next) = read_object(&chars, at)?;
        objects.push(object);
        at = next;
    }
    Ok(objects)
}

/// Checks that the payload parses, ends with tag `63` of length `04`, and
/// that its CRC matches the content. The CRC must be uppercase hex, as
/// generated: a lowercase variant is refused rather than normalised.
pub fn verify_crc(payload: &str) -> Result<(), EmvError> {
    let objects = decode(payload)?;
    let Some((tag, found)) = objects.last() else {
        return Err(EmvError::MissingCrc);
    };
    let is_upper_hex = |c: char| c.is_ascii_digit() || ('A'..='F').contains(&c);
    if tag != "63" || found.len() != 4 || !found.chars().all(is_upper_hex) {
        return Err(EmvError::MissingCrc);
    }
    // The last four characters are ASCII hex, so they are also the last four bytes.
    let covered = payload
        .len()
        .checked_sub(4)
        .and_then(|end| payload.get(..end))
        .ok_or(EmvError::MissingCrc)?;
    let computed = format!("{:04X}", crc16_ccitt_false(covered.as_bytes()));
    if &computed != found {
        return Err(EmvError::CrcMismatch {
            found: found.clone(),
            computed,
        });
    }
    Ok(())
}

/// Reads one data object starting at `at`; returns it and where the next begins.
fn read_object(chars: &[char], at: usize) -> Result<((String, String), usize), EmvError> {
    let header = chars
        .get(at..at + 4)
        .ok_or(EmvError::Truncated { at_char: at })?;
    // Split on chars, never on bytes: garbage input may hold multi-byte chars here.
    let id: String = header.iter().take(2).collect();
    let len: String = header.iter().skip(2).collect();
    if !is_digits(&id, 2) {
        return Err(EmvError::InvalidTagId(id));
    }
    if !is_digits(&len, 2) {
        return Err(EmvError::InvalidLength { at_char: at + 2 });
    }
    let len_chars = len.parse::<usize>().unwrap_or_default();
    if len_chars == 0 {
        return Err(EmvError::ValueLength { tag: id, len_chars });
    }
    let start = at + 4;
    let end = start + len_chars;
    let value: String = chars
        .get(start..end)
        .ok_or(EmvError::Truncated { at_char: start })?
        .iter()
        .collect();
    Ok(((id, value), end))
}

/// Tag 26: our account template, so a scanner knows whose code this is.
fn merchant_account(qr_id: &str) -> Result<String, EmvError> {
    if qr_id.is_empty() || !is_printable_ascii(qr_id) {
        return Err(EmvError::InvalidText {
            field: "qr_id",
            max_chars: MAX_VALUE_CHARS,
        });
    }
    let inner = tlv("00", ACCOUNT_GUID)? + &tlv("01", qr_id)?;
    tlv("26", &inner)
}

/// Tag 62 with the reference label (sub-tag 05), so a scanner echoes our order id.
fn additional_data(reference: &str) -> Result<String, EmvError> {
    let len_chars = reference.chars().count();
    if !(1..=MAX_REFERENCE_CHARS).contains(&len_chars) || !is_printable_ascii(reference) {
        return Err(EmvError::InvalidText {
            field: "reference",
            max_chars: MAX_REFERENCE_CHARS,
        });
    }
    tlv("62", &tlv("05", reference)?)
}

/// Tag 64: the name in its own script, since tag 59 can only hold ASCII.
/// Empty when nothing printable is left (a name of blanks needs no template).
fn language_template(merchant_name: &str) -> Result<String, EmvError> {
    let printable: String = merchant_name.chars().filter(|c| !c.is_control()).collect();
    let original: String = printable
        .trim()
        .chars()
        .take(MAX_MERCHANT_NAME_CHARS)
        .collect();
    if original.is_empty() {
        return Ok(String::new());
    }
    let inner = tlv("00", "ZH")? + &tlv("01", &original)?;
    tlv("64", &inner)
}

/// Only dynamic codes carry an amount, and they must.
fn checked_amount(payload: &MerchantPayload) -> Result<Option<&str>, EmvError> {
    match (payload.dynamic, payload.amount.as_deref()) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(EmvError::AmountOnStaticCode),
        (true, None) => Err(EmvError::MissingAmount),
        (true, Some(amount)) if is_amount(amount) => Ok(Some(amount)),
        (true, Some(amount)) => Err(EmvError::InvalidAmount(amount.to_owned())),
    }
}

fn checked_mcc(mcc: &str) -> Result<&str, EmvError> {
    if is_digits(mcc, 4) {
        Ok(mcc)
    } else {
        Err(EmvError::InvalidMcc(mcc.to_owned()))
    }
}

/// `^\d{1,10}\.\d{2}$`: at most 13 characters, the limit of tag 54.
fn is_amount(text: &str) -> bool {
    match text.split_once('.') {
        Some((yuan, fen)) => {
            (1..=10).contains(&yuan.len())
                && yuan.bytes().all(|b| b.is_ascii_digit())
                && is_digits(fen, 2)
        }
        None => false,
    }
}

/// EMV's restricted charset for names: printable ASCII only, others dropped.
fn restricted_text(text: &str, max_chars: usize) -> String {
    let kept: String = text.chars().filter(|&c| is_printable_char(c)).collect();
    let truncated: String = kept.trim().chars().take(max_chars).collect();
    truncated.trim_end().to_owned()
}

fn or_fallback<'a>(text: &'a str, fallback: &'a str) -> &'a str {
    if text.is_empty() {
        fallback
    } else {
        text
    }
}

fn is_digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_printable_char(c: char) -> bool {
    (' '..='~').contains(&c)
}

fn is_printable_ascii(text: &str) -> bool {
    text.chars().all(is_printable_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EMVCo QRCPS Merchant-Presented Mode v1.1, the example payload of the
    /// specification (also the "official sample" of ericsalim/exemvi,
    /// test/mpm_test.exs). Note the Chinese tag 64 values: lengths count chars.
    const EMVCO_SPEC_EXAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

    /// Thai PromptPay, from dtinth/promptpay-qr index.test.js ("Amount" case, 4.22 THB).
    const PROMPTPAY_EXAMPLE: &str =
        "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469";

    /// Thai PromptPay, from dtinth/promptpay-qr index.test.js ("Local phone number" case).
    const PROMPTPAY_STATIC_EXAMPLE: &str =
        "00020101021129370016A000000677010111011300668012345675802TH530376463046197";

    /// Brazil Pix: the static example of Banco Central do Brasil's
    /// "Manual de Padrões para Iniciação do Pix" (key 123e4567-..., Fulano de Tal, BRASILIA).
    const PIX_BCB_EXAMPLE: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

    fn static_code() -> MerchantPayload {
        MerchantPayload {
            qr_id: "qr_01JD5Q7ZK3M9V2XW8R4T6Y1B0C".to_owned(),
            merchant_name: "Lucky Noodle Bar".to_owned(),
            merchant_city: "Shanghai".to_owned(),
            ..MerchantPayload::default()
        }
    }

    fn dynamic_code() -> MerchantPayload {
        MerchantPayload {
            dynamic: true,
            reference: Some("ord_01JD5Q8A2B3C4D5E6F7G".to_owned()),
            amount: Some("88.00".to_owned()),
            ..static_code()
        }
    }

    fn value<'a>(objects: &'a [(String, String)], tag: &str) -> Option<&'a str> {
        objects
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, v)| v.as_str())
    }

    fn tags(objects: &[(String, String)]) -> Vec<&str> {
        objects.iter().map(|(t, _)| t.as_str()).collect()
    }

    #[test]
    fn crc_matches_the_ccitt_false_check_value() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    }

    #[test]
    fn published_emvco_spec_example_verifies() {
        assert_eq!(verify_crc(EMVCO_SPEC_EXAMPLE), Ok(()));
        let objects = decode(EMVCO_SPEC_EXAMPLE).unwrap();
        assert_eq!(value(&objects, "64"), Some("0002ZH0104最佳运输0202北京"));
        assert_eq!(value(&objects, "54"), Some("23.72"));
    }

    #[test]
    fn published_promptpay_examples_verify() {
        assert_eq!(verify_crc(PROMPTPAY_EXAMPLE), Ok(()));
        assert_eq!(verify_crc(PROMPTPAY_STATIC_EXAMPLE), Ok(()));
    }

    #[test]
    fn published_pix_example_verifies() {
        assert_eq!(verify_crc(PIX_BCB_EXAMPLE), Ok(()));
    }

    #[test]
    fn static_code_is_11_without_amount() {
        let objects = decode(&encode(&static_code()).unwrap()).unwrap();
        assert_eq!(
            tags(&objects),
            ["00", "01", "26", "52", "53", "58", "59", "60", "63"]
        );
        assert_eq!(value(&objects, "01"), Some("11"));
        assert_eq!(value(&objects, "54"), None);
    }

    #[test]
    fn dynamic_code_is_12_with_amount_and_reference() {
        let objects = decode(&encode(&dynamic_code()).unwrap()).unwrap();
        assert_eq!(
            tags(&objects),
            ["00", "01", "26", "52", "53", "54", "58", "59", "60", "62", "63"]
        );
        assert_eq!(value(&objects, "01"), Some("12"));
        assert_eq!(value(&objects, "54"), Some("88.00"));
        assert_eq!(value(&objects, "62"), Some("0524ord_01JD5Q8A2B3C4D5E6F7G"));
    }

    #[test]
    fn encode_decode_round_trip_keeps_every_field() {
        let payload = encode(&dynamic_code()).unwrap();
        assert_eq!(verify_crc(&payload), Ok(()));
        let objects = decode(&payload).unwrap();
        assert_eq!(value(&objects, "00"), Some("01"));
        let account = decode(value(&objects, "26").unwrap()).unwrap();
        assert_eq!(
            account,
            [
                ("00".to_owned(), "cn.qrpay".to_owned()),
                ("01".to_owned(), "qr_01JD5Q7ZK3M9V2XW8R4T6Y1B0C".to_owned()),
            ]
        );
        assert_eq!(value(&objects, "52"), Some("5999"));
        assert_eq!(value(&objects, "53"), Some("156"));
        assert_eq!(value(&objects, "58"), Some("CN"));
        assert_eq!(value(&objects, "59"), Some("Lucky Noodle Bar"));
        assert_eq!(value(&objects, "60"), Some("Shanghai"));
        let reconstructed: String = objects.iter().map(|(t, v)| tlv(t, v).unwrap()).collect();
        assert_eq!(reconstructed, payload);
    }

    #[test]
    fn any_single_character_tamper_fails_verification() {
        let payload = encode(&dynamic_code()).unwrap();
        for (at, original) in payload.char_indices() {
            let replacement = if original == 'X' { "Y" } else { "X" };
            let mut tampered = payload.clone();
            tampered.replace_range(at..at + original.len_utf8(), replacement);
            assert!(verify_crc(&tampered).is_err(), "tamper at {at} accepted");
        }
    }

    #[test]
    fn changed_amount_fails_verification() {
        let payload = encode(&dynamic_code()).unwrap();
        let tampered = payload.replace("540588.00", "540599.00");
        assert_ne!(tampered, payload);
        assert!(matches!(
            verify_crc(&tampered),
            Err(EmvError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn chinese_name_goes_to_tag_64_and_ascii_part_to_59() {
        let payload = MerchantPayload {
            merchant_name: "老王 Noodles 面馆".to_owned(),
            merchant_city: "上海".to_owned(),
            ..static_code()
        };
        let encoded = encode(&payload).unwrap();
        assert_eq!(verify_crc(&encoded), Ok(()));
        let objects = decode(&encoded).unwrap();
        assert_eq!(value(&objects, "59"), Some("Noodles"));
        assert_eq!(value(&objects, "60"), Some("CN"));
        let language = decode(value(&objects, "64").unwrap()).unwrap();
        assert_eq!(
            language,
            [
                ("00".to_owned(), "ZH".to_owned()),
                ("01".to_owned(), "老王 Noodles 面馆".to_owned()),
            ]
        );
    }

    #[test]
    fn all_chinese_name_falls_back_in_59_and_is_truncated_in_64() {
        let long_name = "杭州西湖区某某某某某某某某某某某某某某某某某某某某某某某有限公司";
        let payload = MerchantPayload {
            merchant_name: long_name.to_owned(),
            ..static_code()
        };
        let objects = decode(&encode(&payload).unwrap()).unwrap();
        assert_eq!(value(&objects, "59"), Some("QRPAY MERCHANT"));
        let language = decode(value(&objects, "64").unwrap()).unwrap();
        let expected: String = long_name.chars().take(25).collect();
        assert_eq!(language[1].1, expected);
    }

    #[test]
    fn blank_non_ascii_name_gets_fallback_and_no_tag_64() {
        let payload = MerchantPayload {
            merchant_name: "\u{3000}\u{3000}".to_owned(),
            ..static_code()
        };
        let objects = decode(&encode(&payload).unwrap()).unwrap();
        assert_eq!(value(&objects, "59"), Some("QRPAY MERCHANT"));
        assert_eq!(value(&objects, "64"), None);
    }

    #[test]
    fn ascii_name_has_no_tag_64_and_is_truncated_to_25() {
        let payload = MerchantPayload {
            merchant_name: "The Very Long Name Of A Small Corner Shop".to_owned(),
            merchant_city: "Guangzhou Tianhe District".to_owned(),
            ..static_code()
        };
        let objects = decode(&encode(&payload).unwrap()).unwrap();
        assert_eq!(value(&objects, "59"), Some("The Very Long Name Of A S"));
        assert_eq!(value(&objects, "60"), Some("Guangzhou Tianh"));
        assert_eq!(value(&objects, "64"), None);
    }

    #[test]
    fn tlv_length_counts_characters_not_bytes() {
        assert_eq!(tlv("01", "最佳运输").unwrap(), "0104最佳运输");
    }

    #[test]
    fn tlv_refuses_empty_and_too_long_values() {
        assert_eq!(
            tlv("59", ""),
            Err(EmvError::ValueLength {
                tag: "59".to_owned(),
                len_chars: 0
            })
        );
        assert_eq!(tlv("59", &"A".repeat(99)).unwrap().len(), 103);
        assert_eq!(
            tlv("59", &"A".repeat(100)),
            Err(EmvError::ValueLength {
                tag: "59".to_owned(),
                len_chars: 100
            })
        );
        assert!(matches!(tlv("5", "A"), Err(EmvError::InvalidTagId(_))));
        assert!(matches!(tlv("5a", "A"), Err(EmvError::InvalidTagId(_))));
    }

    #[test]
    fn too_long_qr_id_and_reference_are_errors() {
        let long_qr_id = MerchantPayload {
            qr_id: "q".repeat(84),
            ..static_code()
        };
        assert!(matches!(
            encode(&long_qr_id),
            Err(EmvError::ValueLength { .. })
        ));
        let long_reference = MerchantPayload {
            reference: Some("r".repeat(26)),
            ..dynamic_code()
        };
        assert!(matches!(
            encode(&long_reference),
            Err(EmvError::InvalidText {
                field: "reference",
                ..
            })
        ));
    }

    #[test]
    fn amount_rules_follow_static_and_dynamic() {
        let with_amount = MerchantPayload {
            amount: Some("1.00".to_owned()),
            ..static_code()
        };
        assert_eq!(encode(&with_amount), Err(EmvError::AmountOnStaticCode));
        let without_amount = MerchantPayload {
            amount: None,
            ..dynamic_code()
        };
        assert_eq!(encode(&without_amount), Err(EmvError::MissingAmount));
    }

    #[test]
    fn amount_must_be_plain_two_decimal_text() {
        for bad in [
            "88",
            "88.0",
            "88.000",
            ".50",
            "-1.00",
            "1,00",
            "8 8.00",
            "12345678901.00",
            "NaN",
            "",
            "88.0a",
            "+1.00",
            "１.00",
        ] {
            let payload = MerchantPayload {
                amount: Some(bad.to_owned()),
                ..dynamic_code()
            };
            assert_eq!(
                encode(&payload),
                Err(EmvError::InvalidAmount(bad.to_owned())),
                "{bad:?}"
            );
        }
        let largest = MerchantPayload {
            amount: Some("1234567890.99".to_owned()),
            ..dynamic_code()
        };
        assert!(encode(&largest).is_ok());
    }

    #[test]
    fn mcc_must_be_four_digits() {
        for bad in ["", "599", "59999", "59a9"] {
            let payload = MerchantPayload {
                mcc: bad.to_owned(),
                ..static_code()
            };
            assert_eq!(encode(&payload), Err(EmvError::InvalidMcc(bad.to_owned())));
        }
    }

    #[test]
    fn decode_refuses_truncated_and_garbage_input() {
        assert_eq!(decode(""), Err(EmvError::Empty));
        assert_eq!(decode("000"), Err(EmvError::Truncated { at_char: 0 }));
        assert_eq!(decode("0002"), Err(EmvError::Truncated { at_char: 4 }));
        assert_eq!(decode("00020"), Err(EmvError::Truncated { at_char: 4 }));
        assert_eq!(
            decode("0A0201"),
            Err(EmvError::InvalidTagId("0A".to_owned()))
        );
        assert_eq!(
            decode("00x201"),
            Err(EmvError::InvalidLength { at_char: 2 })
        );
        assert_eq!(
            decode("00+101"),
            Err(EmvError::InvalidLength { at_char: 2 })
        );
        assert!(matches!(decode("0000"), Err(EmvError::ValueLength { .. })));
        assert_eq!(decode(&"0".repeat(513)), Err(EmvError::PayloadTooLong));
        assert!(decode("最佳运输").is_err());
    }

    #[test]
    fn verify_crc_refuses_missing_or_malformed_crc() {
        let payload = encode(&static_code()).unwrap();
        let without_crc = &payload[..payload.len() - 8];
        assert_eq!(verify_crc(without_crc), Err(EmvError::MissingCrc));
        let lowercase =
            format!("{}6304{}", without_crc, &payload[payload.len() - 4..]).to_lowercase();
        assert!(verify_crc(&lowercase).is_err());
        assert!(verify_crc(&payload[..payload.len() - 1]).is_err());
        assert_eq!(
            verify_crc("630429B1"),
            Err(EmvError::CrcMismatch {
                found: "29B1".to_owned(),
                computed: format!("{:04X}", crc16_ccitt_false(b"6304")),
            })
        );
        assert_eq!(verify_crc("6305ABCDE"), Err(EmvError::MissingCrc));
        assert!(verify_crc("garbage").is_err());
        assert!(verify_crc("").is_err());
    }

    #[test]
    fn every_prefix_of_a_published_payload_is_refused_without_panic() {
        let full_chars = EMVCO_SPEC_EXAMPLE.chars().count();
        for end_chars in 0..full_chars {
            let prefix: String = EMVCO_SPEC_EXAMPLE.chars().take(end_chars).collect();
            assert!(verify_crc(&prefix).is_err(), "prefix of {end_chars} chars");
        }
    }

    #[test]
    fn non_printable_qr_id_is_refused() {
        let payload = MerchantPayload {
            qr_id: "qr\n1".to_owned(),
            ..static_code()
        };
        assert!(matches!(
            encode(&payload),
            Err(EmvError::InvalidText { field: "qr_id", .. })
        ));
    }
}
