//! Validated identifiers. Every id that enters from outside passes through a
//! constructor that checks charset and length (SPEC §2); past the edge no code
//! can hold a malformed one. Our own ids are ULIDs: time-ordered, collision-free.

use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be 1-{max_len} characters of {charset}")]
pub struct IdError {
    pub kind: &'static str,
    pub max_len: usize,
    pub charset: &'static str,
}

fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = 64;

            pub fn parse(text: &str) -> Result<Self, IdError> {
                if text.is_empty() || text.len() > Self::MAX_LEN || !text.bytes().all(is_id_char) {
                    return Err(IdError { kind: $kind, max_len: Self::MAX_LEN, charset: "A-Z a-z 0-9 _ -" });
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(/// A merchant shop.
    ShopId, "shop_id");
id_type!(/// A person acting for a shop: its owner (main account) or staff (sub-account).
    OperatorId, "operator_id");
id_type!(/// An order, ours (`ord_…`) or given by the shop when it was created.
    OrderId, "order_id");
id_type!(/// A small payout; also the provider's idempotency key (`out_bill_no`).
    PayoutId, "payout_id");
id_type!(/// A merchant refund (`rf_…`); also the provider's refund number
    /// (WeChat `out_refund_no`, Alipay `out_request_no`, Douyin `out_refund_no`).
    RefundId, "refund_id");
id_type!(/// An operator's balance adjustment of a shop (`adj_…`).
    AdjustmentId, "adjustment_id");
id_type!(/// A POS terminal or QR stand.
    DeviceId, "device_id");
id_type!(/// A collection QR code (`qr_…`), static or dynamic.
    QrId, "qr_id");
id_type!(/// The shop's own order number for a dynamic code (SPEC §3 idempotency).
    OutOrderNo, "out_order_no");

impl PayoutId {
    /// A new, time-ordered payout id. The time comes from the caller's clock
    /// so that ids sort with the test clock too.
    pub fn generate(now: DateTime<Utc>) -> PayoutId {
        PayoutId(format!("po_{}", ulid_at(now)))
    }
}

impl RefundId {
    /// A new, time-ordered refund id (fits every provider's refund number).
    pub fn generate(now: DateTime<Utc>) -> RefundId {
        RefundId(format!("rf_{}", ulid_at(now)))
    }
}

impl AdjustmentId {
    /// A new, time-ordered adjustment id.
    pub fn generate(now: DateTime<Utc>) -> AdjustmentId {
        AdjustmentId(format!("adj_{}", ulid_at(now)))
    }
}

impl OrderId {
    pub fn generate(now: DateTime<Utc>) -> OrderId {
        OrderId(format!("ord_{}", ulid_at(now)))
    }
}

impl QrId {
    pub fn generate(now: DateTime<Utc>) -> QrId {
        QrId(format!("qr_{}", ulid_at(now)))
    }
}

/// A unique, time-ordered token (a ULID) for keys that must not collide.
pub fn unique_token(now: DateTime<Utc>) -> String {
    ulid_at(now).to_string()
}

/// Ids made in one process sort in the order they were made, even within
/// one millisecond (a monotonic generator), so "newest first" holds.
fn ulid_at(now: DateTime<Utc>) -> ulid::Ulid {
    static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let at: SystemTime = now.into();
    let mut guard = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    let generator = guard.get_or_insert_with(ulid::Generator::new);
    // The generator refuses only when 2^80 ids were made in one millisecond,
    // or the clock went back; a plain random ULID is still unique then.
    generator
        .generate_from_datetime(at)
        .unwrap_or_else(|_| ulid::Ulid::from_datetime(at))
}

/// The client's `Idempotency-Key`: 1-64 visible ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 64;

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let visible = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > Self::MAX_LEN || !visible {
            return Err(IdError {
                kind: "Idempotency-Key",
                max_len: Self::MAX_LEN,
                charset: "visible ASCII",
            });
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(ShopId::parse("shop_1-A").is_ok());
        for bad in ["", "a b", "a/b", "é", "a#b", &"x".repeat(65)] {
            assert!(ShopId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse("3f2c-uuid:1").is_ok());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(65)).is_err());
    }

    #[test]
    fn generated_payout_ids_are_valid_and_time_ordered() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let t1 = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        let a = PayoutId::generate(t0);
        let b = PayoutId::generate(t1);
        assert!(PayoutId::parse(a.as_str()).is_ok());
        assert!(a < b);
        let same_ms: Vec<PayoutId> = (0..100).map(|_| PayoutId::generate(t1)).collect();
        assert!(
            same_ms.windows(2).all(|w| w[0] < w[1]),
            "monotonic within a millisecond"
        );
    }
}
