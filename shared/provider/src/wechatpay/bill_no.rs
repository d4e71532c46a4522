//! Our payout id as WeChat's `out_bill_no`, and back. `out_bill_no` is
//! 1-32 characters of `[0-9A-Za-z]` only ("只能由数字、大小写字母组成"):
//! https://pay.weixin.qq.com/docs/merchant/apis/mch-trans/transfer-bill/transfer-to-user.html
//!
//! Ours are `po_<suffix>` (`PayoutId::generate`: a 26-character ULID). The map
//! is `po_<suffix>` <-> `PO<suffix>`, for a suffix of 1-30 of those
//! characters; one-to-one, so a bill number always names one payout. An id
//! outside that shape is refused before it could be sent (and so before any
//! money could move under a number we cannot read back).

use qrpay_domain::PayoutId;

/// Our payout ids' prefix.
const PAYOUT_PREFIX: &str = "po_";
/// The same prefix within WeChat's charset.
const BILL_PREFIX: &str = "PO";
/// Longest `out_bill_no` WeChat takes.
pub const OUT_BILL_NO_MAX_LEN: usize = 32;
/// Longest suffix that fits after `PO`.
const MAX_SUFFIX_LEN: usize = OUT_BILL_NO_MAX_LEN - BILL_PREFIX.len();

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillNoError {
    /// The payout id cannot be written as an `out_bill_no`.
    #[error("payout id {0:?} is not po_ followed by 1-{MAX_SUFFIX_LEN} of [0-9A-Za-z]")]
    Unmappable(String),
    /// The `out_bill_no` is not one we could have sent.
    #[error("out_bill_no {0:?} is not PO followed by 1-{MAX_SUFFIX_LEN} of [0-9A-Za-z]")]
    NotOurs(String),
}

/// `po_<suffix>` -> `PO<suffix>`.
pub fn out_bill_no(payout_id: &PayoutId) -> Result<String, BillNoError> {
    payout_id
        .as_str()
        .strip_prefix(PAYOUT_PREFIX)
        .filter(|suffix| is_suffix(suffix))
        .map(|suffix| format!("{BILL_PREFIX}{suffix}"))
        .ok_or_else(|| BillNoError::Unmappable(payout_id.to_string()))
}

/// `PO<suffix>` -> `po_<suffix>`: the inverse of `out_bill_no`.
pub fn payout_id_of_bill(out_bill_no: &str) -> Result<PayoutId, BillNoError> {
    let not_ours = || BillNoError::NotOurs(out_bill_no.chars().take(40).collect());
    let suffix = out_bill_no
        .strip_prefix(BILL_PREFIX)
        .filter(|suffix| is_suffix(suffix))
        .ok_or_else(not_ours)?;
    PayoutId::parse(&format!("{PAYOUT_PREFIX}{suffix}")).map_err(|_| not_ours())
}

fn is_suffix(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_SUFFIX_LEN
        && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    fn id(text: &str) -> PayoutId {
        PayoutId::parse(text).unwrap()
    }

    fn in_charset(bill: &str) -> bool {
        (1..=OUT_BILL_NO_MAX_LEN).contains(&bill.len())
            && bill.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn a_generated_payout_id_maps_into_the_charset_and_back() {
        let now = DateTime::<Utc>::from_timestamp(1_772_330_400, 0).unwrap();
        let payout = PayoutId::generate(now);
        let bill = out_bill_no(&payout).unwrap();
        assert!(in_charset(&bill), "{bill}");
        assert_eq!(bill.len(), 28);
        assert_eq!(payout_id_of_bill(&bill), Ok(payout));
    }

    #[test]
    fn the_mapping_is_po_underscore_to_po() {
        assert_eq!(
            out_bill_no(&id("po_01JQ0000000000000000000000")).unwrap(),
            "PO01JQ0000000000000000000000"
        );
        assert_eq!(out_bill_no(&id("po_a")).unwrap(), "POa");
        let longest = format!("po_{}", "Z".repeat(30));
        assert_eq!(out_bill_no(&id(&longest)).unwrap().len(), 32);
    }

    #[test]
    fn payout_ids_that_cannot_fit_are_refused() {
        for text in [
            "po_",
            "po_abc_def",
            "po_abc-def",
            "po-abc",
            "PO_abc",
            "ord_abc",
            "abc",
            &format!("po_{}", "Z".repeat(31)),
        ] {
            assert_eq!(
                out_bill_no(&id(text)),
                Err(BillNoError::Unmappable(text.to_owned())),
                "{text}"
            );
        }
    }

    #[test]
    fn bill_numbers_we_could_not_have_sent_are_refused() {
        for text in [
            "",
            "PO",
            "po01JQ",
            "XO01JQ",
            "PO01JQ_0",
            "PO01JQ-0",
            "PO张三",
            &format!("PO{}", "Z".repeat(31)),
        ] {
            assert!(
                matches!(payout_id_of_bill(text), Err(BillNoError::NotOurs(_))),
                "{text}"
            );
        }
    }

    proptest! {
        #[test]
        fn every_mappable_id_round_trips(suffix in "[0-9A-Za-z]{1,30}") {
            let payout = id(&format!("po_{suffix}"));
            let bill = out_bill_no(&payout).unwrap();
            prop_assert!(in_charset(&bill));
            prop_assert_eq!(payout_id_of_bill(&bill), Ok(payout));
        }

        #[test]
        fn every_bill_number_that_reads_back_maps_to_itself(bill in "[0-9A-Za-z_]{0,34}") {
            if let Ok(payout) = payout_id_of_bill(&bill) {
                prop_assert_eq!(out_bill_no(&payout), Ok(bill));
            }
        }

        #[test]
        fn any_payout_id_maps_into_the_charset_or_is_refused(text in "[0-9A-Za-z_-]{1,64}") {
            let payout = id(&text);
            match out_bill_no(&payout) {
                Ok(bill) => {
                    prop_assert!(in_charset(&bill));
                    prop_assert_eq!(payout_id_of_bill(&bill), Ok(payout));
                }
                Err(e) => prop_assert_eq!(e, BillNoError::Unmappable(text)),
            }
        }
    }
}
