//! Who a payout pays back, and how (SPEC §9 "Transfers").
//!
//! A payout goes through the provider that collected the order, to the
//! buyer's account there: the WeChat openid or the Alipay buyer id the
//! payment notice named. That account is restricted data: kept on the order,
//! handed to the transfer adapter, and never logged or shown in a report
//! (`Debug` masks it; there is no `Display`).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::collection::Provider;
use crate::money::Amount;
use crate::order::Order;

/// Longest provider account id we keep (WeChat openids are 28, Alipay ids
/// 16, Alipay open ids up to 64 characters).
pub const MAX_PAYER_ACCOUNT_LEN: usize = 64;

/// From ¥2,000 a WeChat transfer must carry the payee's real name
/// (`user_name`; https://pay.weixin.qq.com/docs/merchant/apis/mch-trans/transfer-bill/transfer-to-user.html).
pub const WECHAT_REAL_NAME_FROM_FEN: i64 = 200_000;

/// Which kind of provider account a payer id is; a transfer names the kind
/// (Alipay `payee_info.identity_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayerAccountKind {
    /// WeChat `openid` under our appid.
    WechatOpenid,
    /// Alipay `buyer_id` / `buyer_user_id` (`2088…`): `ALIPAY_USER_ID`.
    AlipayUserId,
    /// Alipay `buyer_open_id`, for apps switched to OpenID: `ALIPAY_OPEN_ID`.
    AlipayOpenId,
}

impl PayerAccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PayerAccountKind::WechatOpenid => "WECHAT_OPENID",
            PayerAccountKind::AlipayUserId => "ALIPAY_USER_ID",
            PayerAccountKind::AlipayOpenId => "ALIPAY_OPEN_ID",
        }
    }

    pub fn parse(text: &str) -> Option<PayerAccountKind> {
        [
            PayerAccountKind::WechatOpenid,
            PayerAccountKind::AlipayUserId,
            PayerAccountKind::AlipayOpenId,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }

    /// The provider whose account this is.
    pub fn provider(self) -> Provider {
        match self {
            PayerAccountKind::WechatOpenid => Provider::Wechatpay,
            PayerAccountKind::AlipayUserId | PayerAccountKind::AlipayOpenId => Provider::Alipay,
        }
    }
}

/// The buyer's account at the provider that collected an order.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerAccount {
    kind: PayerAccountKind,
    id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payer account ids are 1-64 visible ASCII characters")]
pub struct PayerAccountError;

impl PayerAccount {
    pub fn new(kind: PayerAccountKind, id: &str) -> Result<PayerAccount, PayerAccountError> {
        let ok = !id.is_empty()
            && id.len() <= MAX_PAYER_ACCOUNT_LEN
            && id.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(PayerAccount {
                kind,
                id: id.to_owned(),
            })
        } else {
            Err(PayerAccountError)
        }
    }

    pub fn kind(&self) -> PayerAccountKind {
        self.kind
    }

    /// The id itself, for the one place that sends it to the provider.
    pub fn expose(&self) -> &str {
        &self.id
    }

    /// The first and last four characters: `oUpF…Gpsk`; short ids fully hidden.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.id.chars().collect();
        if chars.len() <= 8 {
            return "*".repeat(chars.len());
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    }
}

impl fmt::Debug for PayerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayerAccount({}, {})", self.kind.as_str(), self.masked())
    }
}

/// What the payee must do before a transfer can finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayeeAction {
    /// WeChat 商家转账 `WAIT_USER_CONFIRM`: the buyer's WeChat must open the
    /// confirmation with `requestMerchantTransfer({mchId, appId, package})`
    /// before `confirm_by`, or WeChat closes the bill and returns the money
    /// (https://pay.weixin.qq.com/doc/v3/merchant/4012716430).
    WechatConfirm {
        mch_id: String,
        app_id: String,
        package: String,
        confirm_by: DateTime<Utc>,
    },
}

impl PayeeAction {
    /// Until when the payout is waiting for the payee, not for the provider.
    pub fn waits_until(&self) -> DateTime<Utc> {
        match self {
            PayeeAction::WechatConfirm { confirm_by, .. } => *confirm_by,
        }
    }
}

/// The providers this stage can pay back through (a transfer channel is
/// configured). A small set, `Copy`, so a request carries it by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PayoutChannels(u8);

impl PayoutChannels {
    pub const NONE: PayoutChannels = PayoutChannels(0);

    pub fn of(providers: &[Provider]) -> PayoutChannels {
        providers
            .iter()
            .fold(PayoutChannels::NONE, |set, p| set.with(*p))
    }

    pub fn with(self, provider: Provider) -> PayoutChannels {
        PayoutChannels(self.0 | Self::bit(provider))
    }

    pub fn contains(self, provider: Provider) -> bool {
        self.0 & Self::bit(provider) != 0
    }

    fn bit(provider: Provider) -> u8 {
        1 << (provider as u8)
    }

    /// Whether a payout of `amount` against `order` can be delivered: the
    /// provider that collected it has a channel here, and (for real
    /// providers) we know the account that paid. The sandbox pays back by
    /// order, without an account. WeChat needs the payee's real name from
    /// [`WECHAT_REAL_NAME_FROM_FEN`], which qrpay does not hold.
    pub fn can_pay_back(self, order: &Order, amount: Amount) -> bool {
        let Some(provider) = order.provider else {
            return false;
        };
        if !self.contains(provider) {
            return false;
        }
        match provider {
            Provider::Sandbox => true,
            Provider::Wechatpay if amount.fen() >= WECHAT_REAL_NAME_FROM_FEN => false,
            Provider::Wechatpay | Provider::Alipay => order
                .payer_account
                .as_ref()
                .is_some_and(|a| a.kind().provider() == provider),
            Provider::Douyin => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, ShopId};
    use crate::money::Money;
    use crate::order::OrderStatus;

    fn paid_by(provider: Provider, account: Option<PayerAccount>) -> Order {
        let mut order = Order::created(
            OrderId::parse("o_1").unwrap(),
            ShopId::parse("s1").unwrap(),
            Amount::parse("10.00").unwrap(),
            DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        );
        order.status = OrderStatus::Paid;
        order.paid_amount = Money::parse("10.00").unwrap();
        order.provider = Some(provider);
        order.payer_account = account;
        order
    }

    #[test]
    fn accounts_never_show_in_debug() {
        let a = PayerAccount::new(
            PayerAccountKind::WechatOpenid,
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        )
        .unwrap();
        assert_eq!(format!("{a:?}"), "PayerAccount(WECHAT_OPENID, oUpF…eS6o)");
        assert_eq!(a.expose(), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
        assert!(PayerAccount::new(PayerAccountKind::AlipayUserId, "").is_err());
        assert!(PayerAccount::new(PayerAccountKind::AlipayUserId, "2088 1").is_err());
        assert!(PayerAccount::new(PayerAccountKind::AlipayOpenId, &"x".repeat(65)).is_err());
        let short = PayerAccount::new(PayerAccountKind::AlipayUserId, "2088").unwrap();
        assert_eq!(short.masked(), "****");
    }

    fn ten() -> Amount {
        Amount::parse("10.00").unwrap()
    }

    #[test]
    fn wechat_payouts_from_2000_need_a_real_name_we_do_not_hold() {
        let wechat = PayoutChannels::of(&[Provider::Wechatpay]);
        let openid = PayerAccount::new(PayerAccountKind::WechatOpenid, "o123456789").unwrap();
        let order = paid_by(Provider::Wechatpay, Some(openid));
        assert!(wechat.can_pay_back(&order, Amount::parse("1999.99").unwrap()));
        assert!(!wechat.can_pay_back(&order, Amount::parse("2000.00").unwrap()));
        let alipay_id = PayerAccount::new(PayerAccountKind::AlipayUserId, "2088102").unwrap();
        let alipay = PayoutChannels::of(&[Provider::Alipay]);
        let order = paid_by(Provider::Alipay, Some(alipay_id));
        assert!(alipay.can_pay_back(&order, Amount::parse("5000.00").unwrap()));
    }

    #[test]
    fn a_payout_needs_the_collecting_provider_and_its_payer() {
        let wechat = PayoutChannels::of(&[Provider::Wechatpay]);
        let openid = PayerAccount::new(PayerAccountKind::WechatOpenid, "o123456789").unwrap();
        let alipay_id = PayerAccount::new(PayerAccountKind::AlipayUserId, "2088102").unwrap();
        assert!(wechat.can_pay_back(&paid_by(Provider::Wechatpay, Some(openid.clone())), ten()));
        // No account kept from the notice: nobody to pay back.
        assert!(!wechat.can_pay_back(&paid_by(Provider::Wechatpay, None), ten()));
        // Collected by Alipay: the WeChat channel cannot pay it back.
        assert!(!wechat.can_pay_back(&paid_by(Provider::Alipay, Some(alipay_id.clone())), ten()));
        // An account of another provider never crosses over.
        let both = wechat.with(Provider::Alipay);
        assert!(!both.can_pay_back(
            &paid_by(Provider::Wechatpay, Some(alipay_id.clone())),
            ten()
        ));
        assert!(both.can_pay_back(&paid_by(Provider::Alipay, Some(alipay_id)), ten()));
        // Douyin has no transfer API; the sandbox pays back by order.
        let all = PayoutChannels::of(&Provider::ALL);
        assert!(!all.can_pay_back(&paid_by(Provider::Douyin, None), ten()));
        assert!(all.can_pay_back(&paid_by(Provider::Sandbox, None), ten()));
        assert!(!PayoutChannels::NONE.can_pay_back(&paid_by(Provider::Sandbox, None), ten()));
        assert!(!all.can_pay_back(
            &Order {
                provider: None,
                ..paid_by(Provider::Sandbox, None)
            },
            ten()
        ));
    }

    #[test]
    fn payee_actions_serialize_with_their_kind() {
        let action = PayeeAction::WechatConfirm {
            mch_id: "1900000109".into(),
            app_id: "wxd678efh567hg6787".into(),
            package: "affffddafdfafddffda==".into(),
            confirm_by: DateTime::from_timestamp(1_780_086_400, 0).unwrap(),
        };
        let json = serde_json::to_value(&action).unwrap();
        assert_eq!(json["kind"], "WECHAT_CONFIRM");
        assert_eq!(json["package"], "affffddafdfafddffda==");
        assert_eq!(serde_json::from_value::<PayeeAction>(json).unwrap(), action);
    }
}
