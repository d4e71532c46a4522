//! The pages a buyer's phone opens (SPEC §10): the checkout page, the step
//! to the provider, and the receipt. Server-rendered HTML that works
//! without JavaScript, in Chinese, mobile first.

pub mod checkout;
pub mod go;
pub mod html;
pub mod receipt;
pub mod way;

use crate::App;
use way::Offer;

/// What this stage offers buyers beyond the configured gateways.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuyerSettings {
    /// The local stack's play-money way to pay (never in a deployed stage).
    pub sandbox: bool,
    /// The merchant has WeChat's H5 product for the payment domain
    /// (`WECHATPAY_H5_ENABLED`).
    pub wechat_h5: bool,
}

impl BuyerSettings {
    pub fn offer(&self, app: &App) -> Offer {
        use qrpay_domain::Provider;
        Offer {
            wechatpay: app.gateways.collection(Provider::Wechatpay).is_some(),
            wechat_jsapi: false,
            wechat_h5: self.wechat_h5,
            alipay: app.gateways.collection(Provider::Alipay).is_some(),
            sandbox: self.sandbox,
        }
    }
}
