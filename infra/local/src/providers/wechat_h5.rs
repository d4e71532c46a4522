//! WeChat Pay's H5 middle page (`h5_url`, wx.tenpay.com) as this stack
//! serves it (BUYER_PAGES.md §3.1), local only:
//!
//! - `GET /sim/wechat/h5?prepay_id=…&package=…&redirect_url=…`: refuses as
//!   WeChat does without a `Referer` from the merchant's H5 domain ("商家参数
//!   格式有误") or with a `redirect_url` elsewhere or not urlencoded; else the
//!   buyer's "pay" button.
//! - `POST /sim/wechat/h5/pay` (that button): pays the order the `h5_url`
//!   names, with WeChat's signed notice, and sends the browser back to
//!   `redirect_url`.

use serde_json::json;

use super::buyer::html_escape;
use super::{header, Ctx, Simulators};
use crate::local_http::{LocalRequest, LocalResponse};

/// The middle page's path on this stack.
pub const H5_PAGE: &str = "/sim/wechat/h5";
const H5_PAY: &str = "/sim/wechat/h5/pay";

impl Simulators {
    /// Answers the H5 middle page's two routes; `None` for anything else.
    pub(super) async fn wechat_h5(
        &self,
        ctx: &Ctx<'_>,
        request: &LocalRequest,
    ) -> Option<LocalResponse> {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", H5_PAGE) => Some(self.h5_page(request)),
            ("POST", H5_PAY) => Some(self.h5_pay(ctx, request).await),
            _ => None,
        }
    }

    fn h5_page(&self, request: &LocalRequest) -> LocalResponse {
        let params: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let pay_host = self.wechat_oauth.pay_host();
        let referer_host = header(request, "referer").and_then(host_of);
        if referer_host.is_none() {
            return page(400, "商家参数格式有误", "");
        }
        if referer_host != Some(pay_host) {
            return page(400, "商家存在未配置的参数", "");
        }
        let (Some(prepay_id), Some(package)) = (get("prepay_id"), get("package")) else {
            return page(400, "商家参数格式有误", "");
        };
        let redirect = get("redirect_url").unwrap_or_default();
        let encoded = request.query.contains("redirect_url=http%3A%2F%2F")
            || request.query.contains("redirect_url=https%3A%2F%2F");
        if !redirect.is_empty() && (!encoded || host_of(redirect) != Some(pay_host)) {
            return page(400, "商家存在未配置的参数", "");
        }
        let code = format!(
            "{}?prepay_id={prepay_id}&package={package}",
            self.wechatpay.h5_page
        );
        let form = format!(
            "<form method=\"post\" action=\"{H5_PAY}\"><input type=\"hidden\" name=\"code\" value=\"{}\">\
             <input type=\"hidden\" name=\"redirect_url\" value=\"{}\"><button type=\"submit\">pay</button></form>",
            html_escape(&code),
            html_escape(redirect)
        );
        page(200, "WeChat Pay H5", &form)
    }

    async fn h5_pay(&self, ctx: &Ctx<'_>, request: &LocalRequest) -> LocalResponse {
        let fields: Vec<(String, String)> = form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let Some(code) = get("code") else {
            return page(400, "商家参数格式有误", "");
        };
        let paid = LocalRequest {
            body: json!({"code": code}).to_string().into_bytes(),
            headers: vec![("content-type".into(), "application/json".into())],
            ..request.clone()
        };
        match self.pay(ctx, &self.wechatpay.sim, &paid).await {
            Ok(_) => match get("redirect_url").filter(|r| !r.is_empty()) {
                Some(back) => LocalResponse {
                    status: 302,
                    headers: vec![("location".into(), back)],
                    body: Vec::new(),
                },
                None => page(200, "Paid", ""),
            },
            Err(e) => page(400, "支付失败", &html_escape(&e.message)),
        }
    }
}

/// `host[:port]` of an absolute http(s) URL.
fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())
}

fn page(status: u16, title: &str, body: &str) -> LocalResponse {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">\
         <title>{title} (simulated)</title></head><body><h1>{title}</h1>{body}</body></html>"
    );
    LocalResponse {
        status,
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: html.into_bytes(),
    }
}
