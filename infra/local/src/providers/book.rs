//! What every simulated provider keeps and the rules they share: orders by
//! `out_trade_no` (creating again with the same parameters gives the same
//! order, other parameters are refused), refunds by our refund id and
//! transfers by our bill id (one id moves money once; a repeat gets the
//! recorded result), and the buyer's payment. Each provider's wire module
//! turns these outcomes into its own documented answers.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use qrpay_domain::Amount;
use serde_json::Value;

use super::faults::Fate;

/// Bound on each kind of record (a local stack never gets near it).
pub const MAX_RECORDS: usize = 100_000;

/// `Debug` leaves the buyer out (restricted data).
#[derive(Clone)]
pub struct Order {
    pub out_trade_no: String,
    /// The product (`NATIVE`, `JSAPI`, `MWEB`, `precreate`, `wap`, `ecpay`).
    pub product: &'static str,
    /// The create parameters, compared on a repeated create.
    pub request: Value,
    pub amount: Amount,
    /// What the buyer's side is handed: `code_url`, `prepay_id`, `h5_url`,
    /// `qr_code`, `order_token`.
    pub code: String,
    /// The provider's own order id, when it gives one at creation (Douyin).
    pub provider_order_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Where payment notices go on the stack (`/callbacks/{provider}`).
    pub notify_path: String,
    /// The only buyer who may pay it (a WeChat JSAPI order's openid).
    pub payer: Option<String>,
    /// Alipay: the trade exists (the buyer opened the page, or paid).
    pub opened: bool,
    /// Alipay Huabei periods (charged as one payment of the full amount).
    pub instalments: Option<u8>,
    /// Where the buyer's browser goes back after paying (Alipay wap).
    pub return_url: Option<String>,
    pub state: OrderState,
    /// Fen refunded so far.
    pub refunded_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderState {
    Unpaid,
    Paid(Payment),
    Closed,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Payment {
    /// The provider's transaction id.
    pub txn_id: String,
    /// The buyer's account (openid, Alipay user id); restricted data.
    pub payer: String,
    pub at: DateTime<Utc>,
}

impl Order {
    pub fn payment(&self) -> Option<&Payment> {
        match &self.state {
            OrderState::Paid(p) => Some(p),
            _ => None,
        }
    }

    /// Unpaid and past its expiry: nobody can pay it any more.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.state == OrderState::Unpaid && now >= self.expires_at
    }

    pub fn refundable_fen(&self) -> i64 {
        self.amount.fen() - self.refunded_fen
    }
}

impl fmt::Debug for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Order")
            .field("out_trade_no", &self.out_trade_no)
            .field("product", &self.product)
            .field("amount", &self.amount)
            .field("expires_at", &self.expires_at)
            .field("state", &self.state)
            .field("refunded_fen", &self.refunded_fen)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Payment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payment")
            .field("txn_id", &self.txn_id)
            .field("payer", &"***")
            .field("at", &self.at)
            .finish()
    }
}

impl fmt::Debug for Transfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transfer")
            .field("our_id", &self.our_id)
            .field("provider_id", &self.provider_id)
            .field("amount", &self.amount)
            .field("payee", &"***")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A create with an `out_trade_no` seen before.
#[derive(Debug)]
pub enum Create {
    New(Order),
    /// Same parameters, still payable: the same order.
    Same(Order),
    /// Other parameters under the same `out_trade_no`.
    Conflict,
    AlreadyPaid,
    /// Closed, or expired unpaid.
    Closed,
    Full,
}

/// Which order a buyer pays: by our id or by what the provider handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderKey {
    OutTradeNo(String),
    Code(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayRefusal {
    NotFound,
    AlreadyPaid,
    Closed,
    Expired,
    /// Not the buyer the order was made for.
    WrongPayer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    Succeeded { at: DateTime<Utc> },
    Failed { reason: &'static str },
}

#[derive(Debug, Clone)]
pub struct Refund {
    pub out_refund_no: String,
    pub out_trade_no: String,
    /// The provider's refund id.
    pub refund_id: String,
    pub amount: Amount,
    pub request: Value,
    pub notify_path: String,
    pub created_at: DateTime<Utc>,
    pub state: RefundState,
}

/// A refund request as the book sees it.
pub struct NewRefund {
    pub out_refund_no: String,
    pub out_trade_no: String,
    pub amount: Amount,
    pub request: Value,
    /// Its own notify path, else the order's.
    pub notify_path: Option<String>,
}

#[derive(Debug)]
pub enum RefundOutcome {
    /// New; `moved` when the money went back now.
    Created(Refund),
    /// The same refund again: its record, nothing moves.
    Repeat(Refund),
    /// The answer is lost; `Some` when the money moved before.
    Lost(Option<Refund>),
    /// Another refund under the same id.
    Conflict,
    OrderNotFound,
    NotPaid,
    /// More than what is left to refund.
    Exceeds,
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferState {
    /// Waiting for the payee (WeChat `WAIT_USER_CONFIRM`).
    Waiting {
        package: String,
        until: DateTime<Utc>,
    },
    Succeeded {
        at: DateTime<Utc>,
    },
    Failed {
        reason: &'static str,
    },
    Cancelled,
}

#[derive(Clone)]
pub struct Transfer {
    /// Our id (`out_bill_no`, `out_biz_no`).
    pub our_id: String,
    /// The provider's id.
    pub provider_id: String,
    pub amount: Amount,
    /// The payee's account; restricted data.
    pub payee: String,
    pub request: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub state: TransferState,
}

/// A transfer request as the book sees it.
pub struct NewTransfer {
    pub our_id: String,
    pub amount: Amount,
    pub payee: String,
    pub request: Value,
    /// `Some` when the payee must confirm first: the package and deadline.
    pub waits: Option<(String, DateTime<Utc>)>,
    pub failure: &'static str,
}

#[derive(Debug)]
pub enum TransferOutcome {
    Created(Transfer),
    Repeat(Transfer),
    Lost(Option<Transfer>),
    Conflict,
    Full,
}

/// Why an unconfirmed transfer closes (https://pay.weixin.qq.com/doc/v3/merchant/4013774966).
pub const OVERDUE_CLOSE: &str = "OVERDUE_CLOSE";

#[derive(Default)]
pub struct Book {
    orders: HashMap<String, Order>,
    refunds: HashMap<String, Refund>,
    transfers: HashMap<String, Transfer>,
}

impl Book {
    /// Creates `order`, or tells what its `out_trade_no` already is.
    pub fn create_order(&mut self, order: Order, now: DateTime<Utc>) -> Create {
        let Some(known) = self.orders.get(&order.out_trade_no) else {
            if self.orders.len() >= MAX_RECORDS {
                return Create::Full;
            }
            self.orders
                .insert(order.out_trade_no.clone(), order.clone());
            return Create::New(order);
        };
        if known.request != order.request || known.product != order.product {
            return Create::Conflict;
        }
        match &known.state {
            OrderState::Paid(_) => Create::AlreadyPaid,
            OrderState::Closed => Create::Closed,
            OrderState::Unpaid if known.expired(now) => Create::Closed,
            OrderState::Unpaid => Create::Same(known.clone()),
        }
    }

    /// Every order, in no particular order (the bills read them).
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Every refund, in no particular order.
    pub fn refunds(&self) -> impl Iterator<Item = &Refund> {
        self.refunds.values()
    }

    pub fn order(&self, out_trade_no: &str) -> Option<&Order> {
        self.orders.get(out_trade_no)
    }

    /// The order the provider knows as `id` (its order or transaction id).
    pub fn order_by_provider_id(&self, id: &str) -> Option<&Order> {
        self.orders.values().find(|o| {
            o.provider_order_id.as_deref() == Some(id)
                || o.payment().is_some_and(|p| p.txn_id == id)
        })
    }

    fn find(&mut self, key: &OrderKey) -> Option<&mut Order> {
        match key {
            OrderKey::OutTradeNo(no) => self.orders.get_mut(no),
            OrderKey::Code(code) => self
                .orders
                .values_mut()
                .find(|o| &o.code == code || o.provider_order_id.as_ref() == Some(code)),
        }
    }

    /// The buyer pays: `payer` (or the order's own buyer, or `default_payer`)
    /// is charged the order's amount under `txn_id` (or the provider's order
    /// id, when it named the order at creation).
    pub fn pay(
        &mut self,
        key: &OrderKey,
        payer: Option<&str>,
        default_payer: &str,
        txn_id: String,
        now: DateTime<Utc>,
    ) -> Result<Order, PayRefusal> {
        let order = self.find(key).ok_or(PayRefusal::NotFound)?;
        match &order.state {
            OrderState::Paid(_) => return Err(PayRefusal::AlreadyPaid),
            OrderState::Closed => return Err(PayRefusal::Closed),
            OrderState::Unpaid if order.expired(now) => return Err(PayRefusal::Expired),
            OrderState::Unpaid => {}
        }
        let payer = match (&order.payer, payer) {
            (Some(fixed), Some(given)) if fixed != given => return Err(PayRefusal::WrongPayer),
            (Some(fixed), _) => fixed.clone(),
            (None, Some(given)) => given.to_owned(),
            (None, None) => default_payer.to_owned(),
        };
        order.opened = true;
        order.state = OrderState::Paid(Payment {
            txn_id: order.provider_order_id.clone().unwrap_or(txn_id),
            payer,
            at: now,
        });
        Ok(order.clone())
    }

    /// Closes an unpaid order; the order as it is after.
    pub fn close(&mut self, out_trade_no: &str) -> Option<Order> {
        let order = self.orders.get_mut(out_trade_no)?;
        if order.state == OrderState::Unpaid {
            order.state = OrderState::Closed;
        }
        Some(order.clone())
    }

    pub fn refund_of(&self, out_refund_no: &str) -> Option<&Refund> {
        self.refunds.get(out_refund_no)
    }

    /// A refund: refused, repeated, or new with `fate()` deciding whether
    /// the money goes back (drawn for new refunds only).
    pub fn refund(
        &mut self,
        new: NewRefund,
        refund_id: String,
        failure: &'static str,
        fate: impl FnOnce() -> Fate,
        now: DateTime<Utc>,
    ) -> RefundOutcome {
        if let Some(known) = self.refunds.get(&new.out_refund_no) {
            let same = known.request == new.request && known.out_trade_no == new.out_trade_no;
            return if same {
                RefundOutcome::Repeat(known.clone())
            } else {
                RefundOutcome::Conflict
            };
        }
        if self.refunds.len() >= MAX_RECORDS {
            return RefundOutcome::Full;
        }
        let Some(order) = self.orders.get_mut(&new.out_trade_no) else {
            return RefundOutcome::OrderNotFound;
        };
        if order.payment().is_none() {
            return RefundOutcome::NotPaid;
        }
        if new.amount.fen() > order.refundable_fen() {
            return RefundOutcome::Exceeds;
        }
        let fate = fate();
        if fate == Fate::LostBefore {
            return RefundOutcome::Lost(None);
        }
        let state = if fate == Fate::Fail {
            RefundState::Failed { reason: failure }
        } else {
            order.refunded_fen += new.amount.fen();
            RefundState::Succeeded { at: now }
        };
        let refund = Refund {
            notify_path: new.notify_path.unwrap_or_else(|| order.notify_path.clone()),
            out_refund_no: new.out_refund_no,
            out_trade_no: new.out_trade_no,
            refund_id,
            amount: new.amount,
            request: new.request,
            created_at: now,
            state,
        };
        self.refunds
            .insert(refund.out_refund_no.clone(), refund.clone());
        match fate {
            Fate::LostAfter => RefundOutcome::Lost(Some(refund)),
            _ => RefundOutcome::Created(refund),
        }
    }

    /// A transfer as it is now (an unconfirmed one past its deadline closes).
    pub fn transfer_of(&mut self, our_id: &str, now: DateTime<Utc>) -> Option<Transfer> {
        let transfer = self.transfers.get_mut(our_id)?;
        expire(transfer, now);
        Some(transfer.clone())
    }

    /// A transfer: repeated, or new with `fate()` deciding.
    pub fn transfer(
        &mut self,
        new: NewTransfer,
        provider_id: String,
        fate: impl FnOnce() -> Fate,
        now: DateTime<Utc>,
    ) -> TransferOutcome {
        if let Some(known) = self.transfers.get_mut(&new.our_id) {
            expire(known, now);
            return if known.request == new.request && known.payee == new.payee {
                TransferOutcome::Repeat(known.clone())
            } else {
                TransferOutcome::Conflict
            };
        }
        if self.transfers.len() >= MAX_RECORDS {
            return TransferOutcome::Full;
        }
        let fate = fate();
        let state = match (fate, new.waits) {
            (Fate::LostBefore, _) => return TransferOutcome::Lost(None),
            (Fate::Fail, _) => TransferState::Failed {
                reason: new.failure,
            },
            (_, Some((package, until))) => TransferState::Waiting { package, until },
            (_, None) => TransferState::Succeeded { at: now },
        };
        let transfer = Transfer {
            our_id: new.our_id,
            provider_id,
            amount: new.amount,
            payee: new.payee,
            request: new.request,
            created_at: now,
            updated_at: now,
            state,
        };
        self.transfers
            .insert(transfer.our_id.clone(), transfer.clone());
        match fate {
            Fate::LostAfter => TransferOutcome::Lost(Some(transfer)),
            _ => TransferOutcome::Created(transfer),
        }
    }

    /// The payee confirms a waiting transfer: the money moves. The transfer
    /// as it is after; `Err` with it when it was not waiting.
    pub fn confirm(
        &mut self,
        our_id: &str,
        now: DateTime<Utc>,
    ) -> Option<Result<Transfer, Transfer>> {
        let transfer = self.transfers.get_mut(our_id)?;
        expire(transfer, now);
        if !matches!(transfer.state, TransferState::Waiting { .. }) {
            return Some(Err(transfer.clone()));
        }
        transfer.state = TransferState::Succeeded { at: now };
        transfer.updated_at = now;
        Some(Ok(transfer.clone()))
    }

    /// The merchant withdraws a transfer the payee has not confirmed.
    pub fn cancel(
        &mut self,
        our_id: &str,
        now: DateTime<Utc>,
    ) -> Option<Result<Transfer, Transfer>> {
        let transfer = self.transfers.get_mut(our_id)?;
        expire(transfer, now);
        match transfer.state {
            TransferState::Waiting { .. } => {
                transfer.state = TransferState::Cancelled;
                transfer.updated_at = now;
            }
            TransferState::Cancelled => {}
            _ => return Some(Err(transfer.clone())),
        }
        Some(Ok(transfer.clone()))
    }
}

/// An unconfirmed transfer past its deadline is closed and nothing moves.
fn expire(transfer: &mut Transfer, now: DateTime<Utc>) {
    if let TransferState::Waiting { until, .. } = transfer.state {
        if now >= until {
            transfer.state = TransferState::Failed {
                reason: OVERDUE_CLOSE,
            };
            transfer.updated_at = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    fn order(no: &str, request: Value) -> Order {
        Order {
            out_trade_no: no.into(),
            product: "NATIVE",
            request,
            amount: Amount::parse("10.00").unwrap(),
            code: format!("code-{no}"),
            provider_order_id: None,
            expires_at: at(600),
            notify_path: "/callbacks/wechatpay".into(),
            payer: None,
            opened: false,
            instalments: None,
            return_url: None,
            state: OrderState::Unpaid,
            refunded_fen: 0,
        }
    }

    #[test]
    fn creating_again_gives_the_same_order_until_it_is_paid_closed_or_expired() {
        let mut book = Book::default();
        assert!(matches!(
            book.create_order(order("o1", json!({"a":1})), at(0)),
            Create::New(_)
        ));
        let Create::Same(same) = book.create_order(order("o1", json!({"a":1})), at(1)) else {
            panic!("same parameters");
        };
        assert_eq!(same.code, "code-o1");
        assert!(matches!(
            book.create_order(order("o1", json!({"a":2})), at(1)),
            Create::Conflict
        ));
        assert!(matches!(
            book.create_order(order("o1", json!({"a":1})), at(600)),
            Create::Closed
        ));
        let key = OrderKey::Code("code-o1".into());
        assert_eq!(
            book.pay(&key, None, "buyer", "t1".into(), at(600))
                .unwrap_err(),
            PayRefusal::Expired
        );
        let paid = book.pay(&key, None, "buyer", "t1".into(), at(5)).unwrap();
        assert_eq!(paid.payment().unwrap().payer, "buyer");
        assert!(matches!(
            book.create_order(order("o1", json!({"a":1})), at(6)),
            Create::AlreadyPaid
        ));
        assert_eq!(
            book.pay(&key, None, "b", "t2".into(), at(6)).unwrap_err(),
            PayRefusal::AlreadyPaid
        );
    }

    #[test]
    fn debug_output_leaves_the_buyer_out() {
        let mut book = Book::default();
        let mut o = order("o9", json!({}));
        o.payer = Some("oSecretOpenid".into());
        book.create_order(o, at(0));
        let paid = book
            .pay(
                &OrderKey::OutTradeNo("o9".into()),
                None,
                "x",
                "t".into(),
                at(1),
            )
            .unwrap();
        let shown = format!("{paid:?}");
        assert!(
            !shown.contains("oSecretOpenid") && shown.contains("o9"),
            "{shown}"
        );
        let TransferOutcome::Created(t) =
            book.transfer(transfer("PO9", false), "b".into(), || Fate::Succeed, at(0))
        else {
            panic!("created");
        };
        assert!(!format!("{t:?}").contains("openid"));
    }

    #[test]
    fn an_order_made_for_one_buyer_takes_no_other() {
        let mut book = Book::default();
        let mut o = order("o2", json!({}));
        o.payer = Some("openid-a".into());
        book.create_order(o, at(0));
        let key = OrderKey::OutTradeNo("o2".into());
        assert_eq!(
            book.pay(&key, Some("openid-b"), "x", "t".into(), at(1))
                .unwrap_err(),
            PayRefusal::WrongPayer
        );
        assert_eq!(
            book.pay(&key, None, "x", "t".into(), at(1))
                .unwrap()
                .payment()
                .unwrap()
                .payer,
            "openid-a"
        );
    }

    fn refund(no: &str, fen: i64) -> NewRefund {
        NewRefund {
            out_refund_no: no.into(),
            out_trade_no: "o3".into(),
            amount: Amount::from_fen(fen).unwrap(),
            request: json!({"fen": fen}),
            notify_path: None,
        }
    }

    #[test]
    fn one_refund_id_moves_money_once_and_never_more_than_was_paid() {
        let mut book = Book::default();
        book.create_order(order("o3", json!({})), at(0));
        assert!(matches!(
            book.refund(refund("r1", 100), "x".into(), "F", || Fate::Succeed, at(1)),
            RefundOutcome::NotPaid
        ));
        book.pay(
            &OrderKey::OutTradeNo("o3".into()),
            None,
            "b",
            "t".into(),
            at(1),
        )
        .unwrap();
        let RefundOutcome::Created(r) = book.refund(
            refund("r1", 600),
            "rf1".into(),
            "F",
            || Fate::Succeed,
            at(2),
        ) else {
            panic!("created");
        };
        assert_eq!(r.state, RefundState::Succeeded { at: at(2) });
        let drawn = std::cell::Cell::new(false);
        let again = book.refund(
            refund("r1", 600),
            "rf9".into(),
            "F",
            || {
                drawn.set(true);
                Fate::Succeed
            },
            at(3),
        );
        assert!(matches!(again, RefundOutcome::Repeat(r) if r.refund_id == "rf1"));
        assert!(!drawn.get(), "a repeat draws no fate");
        assert!(matches!(
            book.refund(refund("r1", 500), "x".into(), "F", || Fate::Succeed, at(3)),
            RefundOutcome::Conflict
        ));
        assert!(matches!(
            book.refund(refund("r2", 401), "x".into(), "F", || Fate::Succeed, at(3)),
            RefundOutcome::Exceeds
        ));
        assert!(matches!(
            book.refund(
                refund("r2", 400),
                "x".into(),
                "F",
                || Fate::LostBefore,
                at(3)
            ),
            RefundOutcome::Lost(None)
        ));
        let RefundOutcome::Created(failed) =
            book.refund(refund("r2", 400), "rf2".into(), "NO", || Fate::Fail, at(4))
        else {
            panic!("failed refund recorded");
        };
        assert_eq!(failed.state, RefundState::Failed { reason: "NO" });
        assert_eq!(book.order("o3").unwrap().refunded_fen, 600);
        assert!(matches!(
            book.refund(
                refund("r3", 400),
                "rf3".into(),
                "F",
                || Fate::LostAfter,
                at(5)
            ),
            RefundOutcome::Lost(Some(_))
        ));
        assert_eq!(book.order("o3").unwrap().refunded_fen, 1000);
    }

    fn transfer(id: &str, waits: bool) -> NewTransfer {
        NewTransfer {
            our_id: id.into(),
            amount: Amount::parse("2.00").unwrap(),
            payee: "openid".into(),
            request: json!({"id": id}),
            waits: waits.then(|| ("pkg".to_owned(), at(100))),
            failure: "ACCOUNT_FROZEN",
        }
    }

    #[test]
    fn transfers_repeat_their_result_wait_for_the_payee_and_close_when_unconfirmed() {
        let mut book = Book::default();
        let TransferOutcome::Created(t) =
            book.transfer(transfer("PO1", false), "b1".into(), || Fate::Succeed, at(0))
        else {
            panic!("created");
        };
        assert_eq!(t.state, TransferState::Succeeded { at: at(0) });
        assert!(
            matches!(book.transfer(transfer("PO1", false), "b2".into(), || Fate::Fail, at(1)), TransferOutcome::Repeat(t) if t.provider_id == "b1")
        );
        let mut other = transfer("PO1", false);
        other.request = json!({"other": 1});
        assert!(matches!(
            book.transfer(other, "b3".into(), || Fate::Succeed, at(1)),
            TransferOutcome::Conflict
        ));
        book.transfer(transfer("PO2", true), "b4".into(), || Fate::Succeed, at(0));
        assert!(book.confirm("PO2", at(50)).unwrap().is_ok());
        assert!(
            book.confirm("PO2", at(51)).unwrap().is_err(),
            "confirmed once"
        );
        book.transfer(transfer("PO3", true), "b5".into(), || Fate::Succeed, at(0));
        assert!(book.cancel("PO3", at(10)).unwrap().is_ok());
        assert!(
            book.cancel("PO3", at(11)).unwrap().is_ok(),
            "cancelling again is accepted"
        );
        assert!(book.confirm("PO3", at(12)).unwrap().is_err());
        book.transfer(transfer("PO4", true), "b6".into(), || Fate::Succeed, at(0));
        let closed = book
            .transfer_of("PO4", at(0) + Duration::seconds(100))
            .unwrap();
        assert_eq!(
            closed.state,
            TransferState::Failed {
                reason: OVERDUE_CLOSE
            }
        );
        assert!(matches!(
            book.transfer(
                transfer("PO5", false),
                "b7".into(),
                || Fate::LostBefore,
                at(0)
            ),
            TransferOutcome::Lost(None)
        ));
        assert!(book.transfer_of("PO5", at(1)).is_none(), "nothing recorded");
    }
}
