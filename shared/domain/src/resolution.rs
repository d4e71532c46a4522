//! What finance staff did about a discrepancy (SPEC §11, seed 000's
//! `处理结果`): a report row's resolution, `OPEN`, `RESOLVED` or `WAIVED`,
//! with a note and who handles it, kept with who set it and when.
//!
//! A row is named by a [`RowId`] made from what the nightly match joins on
//! (provider, kind, reference, instalment period), so the same finding has
//! the same id in every run of the day. A resolution also remembers the
//! finding it was recorded against ([`Finding`]: outcome and amounts): after
//! a re-run it still applies to a row whose finding did not change, and no
//! longer to one whose finding did (that row is open again).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{OperatorId, ShopId};
use crate::text::BoundedText;
use crate::time::{rfc3339_beijing, BusinessDate};

/// The resolution's free-text note.
pub type ResolutionNote = BoundedText<500>;
/// Who handles it: a staff member's name or operator id, as the shop knows them.
pub type Assignee = BoundedText<64>;

/// Changes kept in a resolution's history (the latest ones), so a row that
/// is edited again and again stays one bounded record.
pub const MAX_HISTORY: usize = 50;

/// A report row's name: 16 lowercase hex digits, the FNV-1a hash (64 bits)
/// of the row's match key, each field length-prefixed so that no two keys
/// share a byte string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowId(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a row id is 16 lowercase hexadecimal digits")]
pub struct RowIdError;

impl RowId {
    /// The id of the row the match key `(kind, reference, provider, period)`
    /// gives; `line` only for a duplicate statement line, which shares its
    /// key with the line it repeats.
    pub fn of(
        kind: &str,
        reference: &str,
        provider: Option<&str>,
        period: u8,
        line: Option<u64>,
    ) -> RowId {
        let mut hash = Fnv::new();
        hash.field(kind.as_bytes());
        hash.field(reference.as_bytes());
        hash.field(provider.unwrap_or("").as_bytes());
        hash.field(&[period]);
        if let Some(line) = line {
            hash.field(&line.to_be_bytes());
        }
        RowId(hash.0)
    }

    pub fn parse(text: &str) -> Result<RowId, RowIdError> {
        let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        if text.len() != 16 || !text.as_bytes().iter().all(lower_hex) {
            return Err(RowIdError);
        }
        u64::from_str_radix(text, 16)
            .map(RowId)
            .map_err(|_| RowIdError)
    }

    /// The id as the report writer's spill files carry it.
    pub fn to_bits(self) -> u64 {
        self.0
    }

    pub fn from_bits(bits: u64) -> RowId {
        RowId(bits)
    }

    /// The id's 16 hex digits, without allocating (the report writer
    /// names millions of rows).
    pub fn hex(self) -> [u8; 16] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 16];
        for (i, digit) in hex.iter_mut().enumerate() {
            let shift = 4 * (15 - i);
            *digit = DIGITS[((self.0 >> shift) & 0xf) as usize];
        }
        hex
    }

    /// The id's 16 hex digits, written into `out` (the report writer's buffer).
    pub fn push_hex(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hex());
    }
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowId({self})")
    }
}

impl Serialize for RowId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RowId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RowId, D::Error> {
        let text = String::deserialize(deserializer)?;
        RowId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms (a row id outlives
/// the binary that wrote it), and cheap enough for millions of rows.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn field(&mut self, bytes: &[u8]) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.bytes(&len.to_be_bytes());
        self.bytes(bytes);
    }
}

/// What a row found, as a resolution remembers it: the outcome and both
/// sides' amounts and the deduction status, as the report shows them
/// (`AMOUNT_MISMATCH|100.00|99.50|`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Finding(String);

impl Finding {
    pub fn of(
        outcome: &str,
        ledger_amount: Option<&str>,
        provider_amount: Option<&str>,
        deduction_status: Option<&str>,
    ) -> Finding {
        let parts = [
            outcome,
            ledger_amount.unwrap_or(""),
            provider_amount.unwrap_or(""),
            deduction_status.unwrap_or(""),
        ];
        Finding(parts.join("|"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResolutionStatus {
    /// Being looked into.
    Open,
    /// Put right (the money or the record was corrected).
    Resolved,
    /// Accepted as it is, with a reason in the note.
    Waived,
}

impl ResolutionStatus {
    pub fn parse(text: &str) -> Option<ResolutionStatus> {
        match text {
            "OPEN" => Some(ResolutionStatus::Open),
            "RESOLVED" => Some(ResolutionStatus::Resolved),
            "WAIVED" => Some(ResolutionStatus::Waived),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionStatus::Open => "OPEN",
            ResolutionStatus::Resolved => "RESOLVED",
            ResolutionStatus::Waived => "WAIVED",
        }
    }
}

/// One recorded state of a resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionChange {
    pub status: ResolutionStatus,
    pub note: Option<String>,
    pub assignee: Option<String>,
    /// The operator (owner or platform admin) who recorded it.
    pub by: OperatorId,
    pub at: DateTime<Utc>,
    /// The row's finding when it was recorded.
    pub finding: Finding,
}

/// A report row's resolution: the latest change, and the earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub shop_id: ShopId,
    pub date: BusinessDate,
    pub row_id: RowId,
    pub current: ResolutionChange,
    /// Earlier changes, oldest first, at most [`MAX_HISTORY`].
    pub history: Vec<ResolutionChange>,
    /// Bumped by every change: the store writes a change only over the
    /// version it was decided from.
    pub version: u64,
}

/// What the owner or admin asks to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionRequest {
    pub status: ResolutionStatus,
    pub note: Option<ResolutionNote>,
    pub assignee: Option<Assignee>,
}

impl Resolution {
    /// The resolution after `request` by `by` at `at`, over `previous` (the
    /// stored one, if any), against the row's current `finding`. Every
    /// request is kept as a change, even one that repeats the last: it says
    /// who looked again and when.
    pub fn record(
        previous: Option<Resolution>,
        key: (ShopId, BusinessDate, RowId),
        request: ResolutionRequest,
        finding: Finding,
        by: OperatorId,
        at: DateTime<Utc>,
    ) -> Resolution {
        let change = ResolutionChange {
            status: request.status,
            note: request.note.map(BoundedText::into_string),
            assignee: request.assignee.map(BoundedText::into_string),
            by,
            at,
            finding,
        };
        let (shop_id, date, row_id) = key;
        match previous {
            None => Resolution {
                shop_id,
                date,
                row_id,
                current: change,
                history: Vec::new(),
                version: 1,
            },
            Some(mut previous) => {
                let earlier = std::mem::replace(&mut previous.current, change);
                previous.history.push(earlier);
                let excess = previous.history.len().saturating_sub(MAX_HISTORY);
                previous.history.drain(..excess);
                previous.version = previous.version.saturating_add(1);
                previous
            }
        }
    }

    /// Whether it speaks for a row whose finding is now `finding`.
    pub fn applies_to(&self, finding: &Finding) -> bool {
        &self.current.finding == finding
    }

    /// The report's `处理结果` cell: the status, then who handles it, the
    /// note, and who recorded it when (Beijing time).
    pub fn cell_text(&self) -> String {
        let change = &self.current;
        let mut text = change.status.as_str().to_owned();
        if let Some(assignee) = &change.assignee {
            text.push_str(&format!("; assignee: {assignee}"));
        }
        if let Some(note) = &change.note {
            text.push_str(&format!("; note: {note}"));
        }
        text.push_str(&format!(
            "; by {} at {}",
            change.by,
            rfc3339_beijing(change.at)
        ));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 2, minute, 0)
            .single()
            .expect("time")
    }

    fn key() -> (ShopId, BusinessDate, RowId) {
        let shop = ShopId::parse("shop-1").expect("shop");
        let date = BusinessDate::parse("2026-12-02").expect("date");
        (
            shop,
            date,
            RowId::of("PAYMENT", "ord-1", Some("alipay"), 0, None),
        )
    }

    fn request(status: ResolutionStatus, note: Option<&str>) -> ResolutionRequest {
        ResolutionRequest {
            status,
            note: note.map(|n| ResolutionNote::parse(n).expect("note")),
            assignee: Some(Assignee::parse("finance-wang").expect("assignee")),
        }
    }

    fn owner() -> OperatorId {
        OperatorId::parse("owner-1").expect("operator")
    }

    #[test]
    fn a_row_id_is_the_same_for_the_same_match_key_and_differs_for_any_other() {
        let id = RowId::of("PAYMENT", "ord-1", Some("alipay"), 0, None);
        assert_eq!(id, RowId::of("PAYMENT", "ord-1", Some("alipay"), 0, None));
        let others = [
            RowId::of("REFUND", "ord-1", Some("alipay"), 0, None),
            RowId::of("PAYMENT", "ord-2", Some("alipay"), 0, None),
            RowId::of("PAYMENT", "ord-1", Some("wechatpay"), 0, None),
            RowId::of("PAYMENT", "ord-1", None, 0, None),
            RowId::of("PAYMENT", "ord-1", Some("alipay"), 1, None),
            RowId::of("PAYMENT", "ord-1", Some("alipay"), 0, Some(7)),
            // Without length prefixes these two would hash the same bytes.
            RowId::of("PAYMENTo", "rd-1", Some("alipay"), 0, None),
        ];
        for other in others {
            assert_ne!(id, other);
        }
    }

    #[test]
    fn a_row_id_is_stable_across_builds() {
        // FNV-1a of the empty string is the offset basis; this pins the
        // hash of a real key so a change of algorithm cannot go unnoticed
        // (every stored resolution would be orphaned).
        let id = RowId::of("PAYMENT", "ord-1", Some("alipay"), 0, None);
        let text = id.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(RowId::parse(&text), Ok(id));
        let mut pushed = Vec::new();
        id.push_hex(&mut pushed);
        assert_eq!(pushed, text.as_bytes());
        // Computed apart from this code (FNV-1a 64 over the length-prefixed fields).
        assert_eq!(text, "5c043d29e1f64987");
    }

    #[test]
    fn only_sixteen_lowercase_hex_digits_are_a_row_id() {
        for bad in [
            "",
            "8c0a6f0e3b7f0e4",
            "8c0a6f0e3b7f0e4f0",
            "8C0A6F0E3B7F0E4F",
            "8c0a6f0e3b7f0e4g",
            "+c0a6f0e3b7f0e4f",
        ] {
            assert_eq!(RowId::parse(bad), Err(RowIdError), "{bad:?}");
        }
        assert!(RowId::parse("ffffffffffffffff").is_ok());
    }

    #[test]
    fn the_first_change_starts_at_version_one_and_each_later_one_keeps_the_earlier() {
        let finding = Finding::of("AMOUNT_MISMATCH", Some("100.00"), Some("99.50"), None);
        let first = Resolution::record(
            None,
            key(),
            request(ResolutionStatus::Open, None),
            finding.clone(),
            owner(),
            at(0),
        );
        assert_eq!((first.version, first.history.len()), (1, 0));
        let second = Resolution::record(
            Some(first),
            key(),
            request(ResolutionStatus::Resolved, Some("provider refunded 0.50")),
            finding.clone(),
            owner(),
            at(5),
        );
        assert_eq!(second.version, 2);
        assert_eq!(second.current.status, ResolutionStatus::Resolved);
        assert_eq!(second.history.len(), 1);
        assert_eq!(second.history[0].status, ResolutionStatus::Open);
        assert_eq!(second.history[0].at, at(0));
        assert_eq!(
            second.cell_text(),
            "RESOLVED; assignee: finance-wang; note: provider refunded 0.50; \
             by owner-1 at 2026-12-03T10:05:00.000+08:00"
        );
    }

    #[test]
    fn history_keeps_only_the_latest_changes() {
        let finding = Finding::of("MISSING_IN_LEDGER", None, Some("1.00"), None);
        let mut resolution: Option<Resolution> = None;
        for minute in 0..(MAX_HISTORY as u32 + 5) {
            resolution = Some(Resolution::record(
                resolution,
                key(),
                request(ResolutionStatus::Open, None),
                finding.clone(),
                owner(),
                at(minute % 60),
            ));
        }
        let resolution = resolution.expect("recorded");
        assert_eq!(resolution.history.len(), MAX_HISTORY);
        assert_eq!(resolution.version, MAX_HISTORY as u64 + 5);
        // The oldest kept is the 5th change (minutes 0–3 fell off, the 55th is current).
        assert_eq!(resolution.history[0].at, at(4));
    }

    #[test]
    fn a_resolution_applies_only_while_the_finding_is_unchanged() {
        let finding = Finding::of("AMOUNT_MISMATCH", Some("100.00"), Some("99.50"), None);
        let resolution = Resolution::record(
            None,
            key(),
            request(ResolutionStatus::Waived, Some("rounding, accepted")),
            finding.clone(),
            owner(),
            at(0),
        );
        assert!(resolution.applies_to(&finding));
        let changed = Finding::of("AMOUNT_MISMATCH", Some("100.00"), Some("99.00"), None);
        assert!(!resolution.applies_to(&changed));
        assert_eq!(finding.as_str(), "AMOUNT_MISMATCH|100.00|99.50|");
    }

    #[test]
    fn statuses_are_the_three_the_api_names() {
        for status in [
            ResolutionStatus::Open,
            ResolutionStatus::Resolved,
            ResolutionStatus::Waived,
        ] {
            assert_eq!(ResolutionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ResolutionStatus::parse("open"), None);
        assert_eq!(ResolutionStatus::parse("CLOSED"), None);
    }
}
