//! The pieces every buyer page shares: escaping, the one stylesheet, the
//! document frame and the response headers.
//!
//! Pages are built from `format!` with every outside value passed through
//! [`escape`]. The Content-Security-Policy allows nothing from elsewhere:
//! no scripts but the ones a page names by hash, the inline stylesheet by
//! its hash, images from `data:` and inline SVG, forms only back to us.

use std::sync::OnceLock;

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use qrpay_http::html::{html_response, source_hash};
use qrpay_http::{ApiError, ErrorCode};

pub use qrpay_http::html::escape;

/// Mobile first: one column, large touch targets, system fonts.
const STYLE: &str = "\
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,'PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif;background:#f5f5f5;color:#222}\
main{max-width:480px;margin:0 auto;padding:16px}\
.card{background:#fff;border-radius:12px;padding:16px;margin-bottom:12px}\
h1{font-size:18px;margin:0 0 8px}\
.amount{font-size:36px;font-weight:600;margin:8px 0}\
.muted{color:#777;font-size:14px}\
.plan{background:#fff7e6;border-radius:8px;padding:12px;margin:8px 0}\
.plan strong{color:#d46b08}\
table{width:100%;border-collapse:collapse;font-size:14px}\
td{padding:4px 0}td.r{text-align:right}\
label{display:block;margin:8px 0 4px}\
input[type=text]{width:100%;box-sizing:border-box;font-size:20px;padding:10px;border:1px solid #ccc;border-radius:8px}\
button,.button{display:block;width:100%;box-sizing:border-box;margin:10px 0;padding:14px;font-size:17px;border:0;border-radius:8px;background:#1677ff;color:#fff;text-align:center;text-decoration:none}\
button.wechat,.button.wechat{background:#07c160}\
button.secondary,.button.secondary{background:#fff;color:#1677ff;border:1px solid #1677ff}\
.ok{color:#389e0d}.bad{color:#cf1322}\
.qr svg{width:220px;height:220px;display:block;margin:8px auto}\
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 12px;font-size:14px}dt{color:#777}dd{margin:0;word-break:break-all}";

fn style_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| source_hash(STYLE))
}

/// A whole document: `lang="zh-CN"`, the viewport for phones, no favicon
/// request (a 404 would be a console error), long numbers not turned into
/// phone links.
pub fn document(title: &str, head_extra: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"format-detection\" content=\"telephone=no\">\
         <link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style>{head_extra}</head>\
         <body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// An HTML answer with the page headers: no caching (amounts and states
/// change), no framing, nothing loaded from elsewhere. `scripts` are the
/// exact inline scripts the page carries, allowed by their hashes.
pub fn page(status: StatusCode, html: String, scripts: &[&str]) -> Response<Body> {
    let script_src = if scripts.is_empty() {
        "'none'".to_owned()
    } else {
        scripts
            .iter()
            .map(|s| source_hash(s))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let csp = format!(
        "default-src 'none'; style-src {}; img-src 'self' data:; script-src {script_src}; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        style_hash()
    );
    html_response(status, html, &csp, "Accept, User-Agent")
}

/// A `303 See Other` to `location` (after a form post).
pub fn see_other(location: &str) -> Result<Response<Body>, ApiError> {
    let value = HeaderValue::from_str(location)
        .map_err(|_| ApiError::internal("a redirect to an unprintable location"))?;
    let mut response = page(StatusCode::SEE_OTHER, String::new(), &[]);
    response
        .headers_mut()
        .insert(lambda_http::http::header::LOCATION, value);
    Ok(response)
}

/// What a refusal looks like to a buyer: the status stays, the words are
/// theirs (the stable code and field stay in `data-code` and `data-field` for support).
pub fn error_page(error: &ApiError) -> Response<Body> {
    let code = |c: ErrorCode| c.as_str() == error.code;
    let (title, advice) = if code(ErrorCode::QrNotFound) || code(ErrorCode::OrderNotFound) {
        ("找不到这笔付款", "请向商家确认付款码或链接是否正确。")
    } else if error.code == "QR_EXPIRED" || error.code == "QR_REVOKED" {
        ("付款码已失效", "请让商家重新出示付款码。")
    } else if error.code == "QR_USED" {
        ("这笔订单已支付", "无需再次付款。")
    } else if code(ErrorCode::CheckoutRateLimited) {
        ("操作太频繁", "请稍后再试。")
    } else if code(ErrorCode::InvalidRequest) {
        ("输入有误", "请返回修改后重试。")
    } else if code(ErrorCode::ProviderNotOffered) || code(ErrorCode::PayMethodUnavailable) {
        ("这种支付方式暂不可用", "请返回选择其他支付方式。")
    } else if code(ErrorCode::ProviderRefused) || code(ErrorCode::ProviderUnavailable) {
        (
            "支付渠道暂时无法下单",
            "请稍后重试，或返回选择其他支付方式。",
        )
    } else {
        ("出错了", "请稍后再试。")
    };
    let detail = if code(ErrorCode::InvalidRequest) {
        escape(&error.message)
    } else {
        String::new()
    };
    let field = error
        .field
        .as_deref()
        .map(|f| format!(" data-field=\"{}\"", escape(f)))
        .unwrap_or_default();
    let body = format!(
        "<div class=\"card\" data-code=\"{}\"{field}><h1 class=\"bad\">{title}</h1><p>{advice}</p><p class=\"muted\">{detail}</p></div>",
        error.code
    );
    page(error.status, document(title, "", &body), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_allow_only_their_own_stylesheet_and_named_scripts() {
        let response = page(StatusCode::OK, document("t", "", "<p>x</p>"), &["run()"]);
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let expected_style = source_hash(STYLE);
        let expected_script = source_hash("run()");
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        assert!(
            csp.contains(&format!("style-src {expected_style};")),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("script-src {expected_script};")),
            "{csp}"
        );
        assert!(csp.contains("form-action 'self'"), "{csp}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let none = page(StatusCode::OK, String::new(), &[]);
        assert!(none.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'none';"));
    }
}
