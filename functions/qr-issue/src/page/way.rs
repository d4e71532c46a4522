//! Which ways to pay a page offers, from where it is opened (SPEC §10;
//! BUYER_PAGES.md §1). Detected on the server from the User-Agent, so the
//! page works without JavaScript; only the detected kind is ever logged,
//! never the header itself.

use qrpay_domain::Provider;

/// Where the buyer's page is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// WeChat's in-app browser on a phone: JSAPI through the JS bridge.
    Wechat,
    /// WeChat on a computer: no bridge to count on; scan with the phone.
    WechatDesktop,
    /// Alipay's in-app browser: wap pay opens the cashier in the app.
    Alipay,
    /// Douyin's in-app browser. Douyin Pay's cashier is reachable only from
    /// a Douyin mini-program, not from a web page (BUYER_PAGES.md §5).
    Douyin,
    /// Any other phone browser.
    Mobile,
    /// A computer's browser: codes to scan with the phone.
    Desktop,
}

impl Container {
    pub fn from_user_agent(agent: &str) -> Container {
        let phone = ["Mobile", "Android", "iPhone", "iPad", "HarmonyOS"]
            .iter()
            .any(|t| agent.contains(t));
        // WeChat Work also says MicroMessenger, but our app id's JSAPI does
        // not work there: treat it as an ordinary browser.
        if agent.contains("wxwork/") {
        } else if agent.contains("MicroMessenger") {
            return if agent.contains("WindowsWechat") || agent.contains("MacWechat") || !phone {
                Container::WechatDesktop
            } else {
                Container::Wechat
            };
        } else if agent.contains("AlipayClient") {
            return Container::Alipay;
        } else if agent.contains("AppName/aweme") || agent.contains("aweme_") {
            return Container::Douyin;
        }
        if phone {
            Container::Mobile
        } else {
            Container::Desktop
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Container::Wechat => "wechat",
            Container::WechatDesktop => "wechat_desktop",
            Container::Alipay => "alipay",
            Container::Douyin => "douyin",
            Container::Mobile => "mobile",
            Container::Desktop => "desktop",
        }
    }
}

/// A way to pay, as the page's form and `POST /pay/{token}` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayWay {
    WechatpayJsapi,
    WechatpayH5,
    WechatpayNative,
    AlipayWap,
    AlipayQr,
    /// The local stack's play money (never offered where it is not compiled in).
    Sandbox,
}

impl PayWay {
    pub const ALL: [PayWay; 6] = [
        PayWay::WechatpayJsapi,
        PayWay::WechatpayH5,
        PayWay::WechatpayNative,
        PayWay::AlipayWap,
        PayWay::AlipayQr,
        PayWay::Sandbox,
    ];

    pub fn parse(text: &str) -> Option<PayWay> {
        PayWay::ALL.into_iter().find(|w| w.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PayWay::WechatpayJsapi => "wechatpay_jsapi",
            PayWay::WechatpayH5 => "wechatpay_h5",
            PayWay::WechatpayNative => "wechatpay_native",
            PayWay::AlipayWap => "alipay_wap",
            PayWay::AlipayQr => "alipay_qr",
            PayWay::Sandbox => "sandbox",
        }
    }

    /// The provider whose gateway takes the order (none for the sandbox).
    pub fn provider(self) -> Option<Provider> {
        match self {
            PayWay::WechatpayJsapi | PayWay::WechatpayH5 | PayWay::WechatpayNative => {
                Some(Provider::Wechatpay)
            }
            PayWay::AlipayWap | PayWay::AlipayQr => Some(Provider::Alipay),
            PayWay::Sandbox => None,
        }
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            PayWay::WechatpayJsapi => "微信支付",
            PayWay::WechatpayH5 => "微信支付（跳转微信）",
            PayWay::WechatpayNative => "微信扫码支付",
            PayWay::AlipayWap => "支付宝支付",
            PayWay::AlipayQr => "支付宝扫码支付",
            PayWay::Sandbox => "沙箱支付（本地演示）",
        }
    }

    /// The button's colour class.
    pub fn class(self) -> &'static str {
        match self.provider() {
            Some(Provider::Wechatpay) => "wechat",
            Some(_) => "",
            None => "secondary",
        }
    }
}

/// What this stage can do, whatever the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offer {
    pub wechatpay: bool,
    /// WeChat OAuth is configured (the app secret), so JSAPI can learn the openid.
    pub wechat_jsapi: bool,
    /// The merchant has WeChat's H5 product for this domain.
    pub wechat_h5: bool,
    pub alipay: bool,
    pub sandbox: bool,
}

/// The ways offered on a page opened in `container`, best first; `plan`
/// when the order is paid in instalments (only Alipay's Huabei takes those).
pub fn offered(container: Container, offer: Offer, plan: bool) -> Vec<PayWay> {
    let wechat = offer.wechatpay && !plan;
    let candidates: &[(PayWay, bool)] = match container {
        Container::Wechat => &[(PayWay::WechatpayJsapi, wechat && offer.wechat_jsapi)],
        Container::Alipay => &[(PayWay::AlipayWap, offer.alipay)],
        // Douyin's cashier needs a mini-program; Alipay's wap pay falls back
        // to its web cashier where the app cannot be opened.
        Container::Douyin => &[(PayWay::AlipayWap, offer.alipay)],
        Container::Mobile => &[
            (PayWay::AlipayWap, offer.alipay),
            (PayWay::WechatpayH5, wechat && offer.wechat_h5),
        ],
        Container::WechatDesktop | Container::Desktop => &[
            (PayWay::WechatpayNative, wechat),
            (PayWay::AlipayQr, offer.alipay),
        ],
    };
    let mut ways: Vec<PayWay> = candidates
        .iter()
        .filter(|(_, on)| *on)
        .map(|(w, _)| *w)
        .collect();
    if offer.sandbox {
        ways.push(PayWay::Sandbox);
    }
    ways
}

/// Every way this stage could take for an order, wherever it is opened: a
/// JSON client names one of these.
pub fn possible(offer: Offer, plan: bool) -> Vec<PayWay> {
    let wechat = offer.wechatpay && !plan;
    PayWay::ALL
        .into_iter()
        .filter(|w| match w {
            PayWay::WechatpayJsapi => wechat && offer.wechat_jsapi,
            PayWay::WechatpayH5 => wechat && offer.wechat_h5,
            PayWay::WechatpayNative => wechat,
            PayWay::AlipayWap | PayWay::AlipayQr => offer.alipay,
            PayWay::Sandbox => offer.sandbox,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WECHAT: &str = "Mozilla/5.0 (Linux; Android 12; M2012K11AC Build/SKQ1.211006.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/86.0.4240.99 XWEB/4317 MMWEBSDK/20220903 Mobile Safari/537.36 MMWEBID/6294 MicroMessenger/8.0.28.2240(0x28001C35) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64";
    const WECHAT_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.30(0x18001e31) NetType/WIFI Language/zh_CN";
    const WECHAT_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090217) XWEB/6500 Flue";
    const WXWORK: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.0.19 MicroMessenger/7.0.1 Language/zh ColorScheme/Light";
    const ALIPAY: &str = "Mozilla/5.0 (Linux; U; Android 10; zh-CN; V1916A Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.0.36 Mobile Safari/537.36 AlipayChannelId/5136 UCBS/3.22.0.36_200427175009 NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:360|0|3.0) AliApp(AP/10.1.92.7000) AlipayClient/10.1.92.7000 Language/zh-Hans useStatusBar/true isConcaveScreen/true Region/CN NebulaX/1.0.0 Ariver/1.0.0";
    const DOUYIN: &str = "Mozilla/5.0 (Linux; Android 10; ELS-AN00 Build/HUAWEIELS-AN00; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/75.0.3770.156 Mobile Safari/537.36 aweme_230400 JsSdk/1.0 NetType/WIFI AppName/aweme app_version/23.4.0 ByteLocale/zh-CN Region/CN AppSkin/white AppTheme/light BytedanceWebview/d8a21c6 WebView/075113004008";
    const TIKTOK: &str = "Mozilla/5.0 (Linux; Android 11; SM-A515F Build/RP1A.200720.012; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/96.0.4664.104 Mobile Safari/537.36 trill_2022205030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/22.2.5 ByteLocale/en BytedanceWebview/d8a21c6";
    const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn the_container_is_read_from_the_user_agent() {
        for (agent, container) in [
            (WECHAT, Container::Wechat),
            (WECHAT_IOS, Container::Wechat),
            (WECHAT_WINDOWS, Container::WechatDesktop),
            (WXWORK, Container::Mobile),
            (ALIPAY, Container::Alipay),
            (DOUYIN, Container::Douyin),
            (TIKTOK, Container::Mobile),
            (SAFARI, Container::Mobile),
            (DESKTOP, Container::Desktop),
            ("", Container::Desktop),
        ] {
            assert_eq!(Container::from_user_agent(agent), container, "{agent}");
        }
    }

    #[test]
    fn each_container_is_offered_what_works_there_and_never_nothing_when_alipay_is_on() {
        let all = Offer {
            wechatpay: true,
            wechat_jsapi: true,
            wechat_h5: true,
            alipay: true,
            sandbox: false,
        };
        use PayWay::*;
        assert_eq!(offered(Container::Wechat, all, false), [WechatpayJsapi]);
        assert_eq!(offered(Container::Alipay, all, false), [AlipayWap]);
        assert_eq!(offered(Container::Douyin, all, false), [AlipayWap]);
        assert_eq!(
            offered(Container::Mobile, all, false),
            [AlipayWap, WechatpayH5]
        );
        assert_eq!(
            offered(Container::Desktop, all, false),
            [WechatpayNative, AlipayQr]
        );
        // Monthly pay: only Huabei takes a plan.
        assert_eq!(offered(Container::Mobile, all, true), [AlipayWap]);
        assert_eq!(offered(Container::Desktop, all, true), [AlipayQr]);
        assert_eq!(offered(Container::Wechat, all, true), []);
        // No H5 product: a phone browser still has Alipay.
        let no_h5 = Offer {
            wechat_h5: false,
            ..all
        };
        assert_eq!(offered(Container::Mobile, no_h5, false), [AlipayWap]);
        let sandbox = Offer {
            sandbox: true,
            ..Offer::default()
        };
        assert_eq!(offered(Container::Wechat, sandbox, false), [Sandbox]);
        assert_eq!(possible(all, true), [AlipayWap, AlipayQr]);
    }

    #[test]
    fn ways_are_named_as_the_form_sends_them() {
        for way in PayWay::ALL {
            assert_eq!(PayWay::parse(way.as_str()), Some(way));
        }
        assert_eq!(PayWay::parse("douyin"), None);
        assert_eq!(PayWay::parse(""), None);
    }
}
