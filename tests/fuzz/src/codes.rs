//! What a buyer's phone or a scanner hands us: payment tokens (`/pay/{token}`),
//! receipt and claim links, and EMV merchant-presented payloads.

use qrpay_qr::emv::{self, MerchantPayload};
use qrpay_qr::token::TokenError;
use qrpay_qr::{link, token};

use crate::mutate::{self, Shape};
use crate::rng::Rng;
use crate::{clear_error, Outcome, Target};

const CURRENT: &[u8] = b"fuzz-token-secret-current";
const PREVIOUS: &[u8] = b"fuzz-token-secret-previous";

/// A signed text (token or link) and its verifier. An accepted input must be
/// one of the signed samples: anything else accepted is a forgery.
pub struct Signed {
    name: &'static str,
    samples: Vec<Vec<u8>>,
    verify: fn(&[&[u8]], &str) -> Result<(), TokenError>,
}

impl Target for Signed {
    fn name(&self) -> &'static str {
        self.name
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        mutate::input(
            rng,
            &self.samples,
            Shape::Delimited {
                line_sep: b'/',
                cell_sep: b'.',
            },
            300,
        )
    }

    fn run(&self, input: &[u8]) -> Outcome {
        // A path segment reaches the handler as text.
        let text = String::from_utf8_lossy(input);
        match (self.verify)(&[CURRENT, b"", PREVIOUS], &text) {
            Ok(()) if self.samples.iter().any(|s| s == input) => Outcome::Accepted,
            Ok(()) => Outcome::Unclear(format!("accepted a text never signed: {text}")),
            Err(e) => clear_error(&e),
        }
    }
}

fn payment_tokens() -> Signed {
    let mut samples = Vec::new();
    for (qr, shop) in [
        ("qr_01", "shop-1"),
        ("Q", "s"),
        (&*"q".repeat(64), &*"S".repeat(64)),
    ] {
        for secret in [CURRENT, PREVIOUS] {
            samples.push(
                token::sign(secret, qr, shop)
                    .expect("valid ids")
                    .into_bytes(),
            );
        }
    }
    Signed {
        name: "payment token",
        samples,
        verify: |secrets, text| token::verify(secrets, text).map(|_| ()),
    }
}

fn receipt_links() -> Signed {
    let samples = [CURRENT, PREVIOUS]
        .iter()
        .map(|secret| {
            link::sign_receipt(secret, "ord_01JQ0000000000000000000000", "shop-1")
                .expect("valid ids")
                .into_bytes()
        })
        .collect();
    Signed {
        name: "receipt link",
        samples,
        verify: |secrets, text| link::verify_receipt(secrets, text).map(|_| ()),
    }
}

fn claim_links() -> Signed {
    let mut samples = Vec::new();
    for expires in [0, 1_780_000_000, 253_402_300_799] {
        for secret in [CURRENT, PREVIOUS] {
            let text = link::sign_claim(secret, "pay_01JQ000000000000000000000", "shop-1", expires)
                .expect("valid claim");
            samples.push(text.into_bytes());
        }
    }
    Signed {
        name: "claim link",
        samples,
        verify: |secrets, text| link::verify_claim(secrets, text).map(|_| ()),
    }
}

/// EMV payloads: split into data objects and their CRC checked, as a
/// scanned code is read back.
pub struct Emv {
    samples: Vec<Vec<u8>>,
}

impl Emv {
    pub fn new() -> Emv {
        let payloads = [
            MerchantPayload {
                qr_id: "qr_01".into(),
                merchant_name: "Noodle Bar".into(),
                merchant_city: "Shanghai".into(),
                ..MerchantPayload::default()
            },
            MerchantPayload {
                dynamic: true,
                qr_id: "qr_02".into(),
                reference: Some("ord_01JQ000000000000".into()),
                amount: Some("88.00".into()),
                merchant_name: "兰州拉面 Lanzhou".into(),
                merchant_city: "北京".into(),
                mcc: "5812".into(),
            },
        ];
        Emv {
            samples: payloads
                .iter()
                .map(|p| emv::encode(p).expect("valid payload").into_bytes())
                .collect(),
        }
    }
}

impl Default for Emv {
    fn default() -> Self {
        Emv::new()
    }
}

impl Target for Emv {
    fn name(&self) -> &'static str {
        "EMV payload"
    }

    fn samples(&self) -> &[Vec<u8>] {
        &self.samples
    }

    fn input(&self, rng: &mut Rng) -> Vec<u8> {
        let mut data = mutate::input(rng, &self.samples, Shape::Bytes, 600);
        // Half the time the CRC is made right again, so the objects inside
        // are what decides.
        if rng.one_in(2) && data.len() >= 4 {
            let end = data.len() - 4;
            let crc = emv::crc16_ccitt_false(&data[..end]);
            data.splice(end.., format!("{crc:04X}").bytes());
        }
        data
    }

    fn run(&self, input: &[u8]) -> Outcome {
        let text = String::from_utf8_lossy(input);
        let decoded = match emv::decode(&text) {
            Ok(objects) => objects,
            Err(e) => return clear_error(&e),
        };
        // What decode returns must read back: each template decodes or refuses.
        for (tag, value) in &decoded {
            if matches!(tag.as_str(), "26" | "62" | "64") {
                if let Err(e) = emv::decode(value) {
                    if let Outcome::Unclear(why) = clear_error(&e) {
                        return Outcome::Unclear(why);
                    }
                }
            }
        }
        match emv::verify_crc(&text) {
            Ok(()) => Outcome::Accepted,
            Err(e) => clear_error(&e),
        }
    }
}

pub fn targets() -> Vec<Box<dyn Target>> {
    vec![
        Box::new(payment_tokens()),
        Box::new(receipt_links()),
        Box::new(claim_links()),
        Box::new(Emv::new()),
    ]
}
