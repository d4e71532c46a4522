//! What every HTML answer shares, whoever serves it (the buyer's pages,
//! the merchant's reports): escaping, telling a browser from an API
//! client, the hash a Content-Security-Policy names an inline source by,
//! and the headers of a page.
//!
//! Pages are built from `format!` with every outside value passed through
//! [`escape`]; their policy allows nothing from elsewhere.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_http::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, VARY};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

/// Text made safe for HTML element content and quoted attribute values
/// (SVG's too).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the caller reads pages: a browser's `Accept` names `text/html`
/// ahead of (or without) `application/json`. No `Accept`, `*/*` or JSON
/// first keeps the JSON contract.
pub fn wants_html(req: &Request) -> bool {
    let accept = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match (accept.find("text/html"), accept.find("application/json")) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        _ => false,
    }
}

/// How a policy names an exact inline stylesheet or script:
/// `'sha256-<base64>'`.
pub fn source_hash(source: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(source)))
}

/// An HTML answer under `csp`: never cached (amounts and states change),
/// never sniffed, the referrer kept to our origin. `Vary` names what the
/// page was chosen by.
pub fn html_response(
    status: StatusCode,
    html: String,
    csp: &str,
    vary: &'static str,
) -> Response<Body> {
    let mut response = Response::new(Body::Text(html));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(VARY, HeaderValue::from_static(vary));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "referrer-policy",
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if let Ok(value) = HeaderValue::from_str(csp) {
        headers.insert("content-security-policy", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_cannot_open_a_tag_or_leave_an_attribute() {
        assert_eq!(
            escape(r#"<img src=x onerror="alert('1')">&"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;"
        );
        assert_eq!(escape("茶小铺"), "茶小铺");
    }

    fn asking(accept: Option<&str>) -> Request {
        let mut req = Request::default();
        if let Some(accept) = accept {
            req.headers_mut()
                .insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        req
    }

    #[test]
    fn a_browser_gets_html_and_an_api_client_keeps_json() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wants_html(&asking(Some(chrome))));
        assert!(wants_html(&asking(Some("text/html, application/json"))));
        assert!(!wants_html(&asking(Some("application/json, text/html"))));
        assert!(!wants_html(&asking(Some("application/json"))));
        assert!(!wants_html(&asking(Some("*/*"))));
        assert!(!wants_html(&asking(None)));
    }

    #[test]
    fn a_source_is_named_by_its_sha256() {
        // `printf 'a{}' | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            source_hash("a{}"),
            "'sha256-X1RutGBrXCt9KkSaXMK7tHftWiRscFHOhxsS8tv8hBk='"
        );
    }

    #[test]
    fn a_page_is_never_cached_and_carries_its_policy() {
        let page = html_response(
            StatusCode::OK,
            "<p>x</p>".into(),
            "default-src 'none'",
            "Accept",
        );
        let headers = page.headers();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["vary"], "Accept");
        assert_eq!(headers["content-security-policy"], "default-src 'none'");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
}
