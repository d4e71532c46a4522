//! The merchant's orders (SPEC §11 "Orders"): `GET /shops/{shop_id}/orders`
//! lists a range of business days, newest first, filtered and paged;
//! `GET /shops/{shop_id}/exports/orders` hands the range over as a CSV or
//! XLSX file whose cells follow `qrpay_sheet`'s rules (ids exact text).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use qrpay_domain::order_listing::MAX_RANGE_DAYS;
use qrpay_domain::{
    BusinessDate, DateRange, DeviceId, Order, OrderFilter, OrderStatus, OutOrderNo, Provider,
    RangeError, ShopId,
};
use qrpay_http::{attachment, json, ApiError, ErrorCode};
use qrpay_store::{OrderPosition, OrderQuery, MAX_PAGE_SIZE};
use serde_json::json;

use crate::export::{OrderRow, HEADERS_EN, HEADERS_ZH};
use crate::{order_json, App};
use qrpay_sheet::Lang;

const DEFAULT_PAGE_SIZE: usize = 50;
/// Without `from`, a listing covers the 30 days up to `to` (default today).
const DEFAULT_RANGE_DAYS: u64 = 30;
/// Most orders one export file holds; a wider range is refused, not cut.
pub const MAX_EXPORT_ROWS: usize = 10_000;

const FILTERS: [&str; 6] = [
    "from",
    "to",
    "status",
    "provider",
    "device_id",
    "out_order_no",
];

/// The query's parameters, each at most once, none unknown.
fn params(req: &Request, extra: &[&str]) -> Result<Params, ApiError> {
    let query = req.query_string_parameters();
    let mut params = Params::default();
    for (name, _) in query.iter() {
        if !FILTERS.contains(&name) && !extra.contains(&name) {
            // Named back, bounded: the name is the caller's text.
            let shown: String = name.chars().take(64).collect();
            return Err(ApiError::invalid(&shown, "unknown query parameter"));
        }
        let all = query.all(name).unwrap_or_default();
        if all.len() != 1 {
            return Err(ApiError::invalid(name, "give this parameter once"));
        }
        params.0.push((name.to_owned(), all[0].to_owned()));
    }
    Ok(params)
}

#[derive(Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|text| parse(text).map_err(|e| ApiError::invalid(name, e.to_string())))
            .transpose()
    }

    fn named<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        self.parsed(name, |t| {
            parse(t).ok_or("not one of the values this parameter takes")
        })
    }

    fn range(&self, today: BusinessDate) -> Result<DateRange, ApiError> {
        let date = |t: &str| BusinessDate::parse(t);
        let to = self.parsed("to", date)?.unwrap_or(today);
        let from = self
            .parsed("from", date)?
            .unwrap_or_else(|| to.days_before(DEFAULT_RANGE_DAYS - 1));
        DateRange::new(from, to).map_err(|e| match e {
            RangeError::Reversed => ApiError::invalid("from", e.to_string()),
            RangeError::TooWide => {
                let mut err = ApiError::new(
                    ErrorCode::DateRangeTooWide,
                    format!("from..to spans at most {MAX_RANGE_DAYS} days"),
                );
                err.field = Some("to".to_owned());
                err
            }
        })
    }

    fn filter(&self) -> Result<OrderFilter, ApiError> {
        Ok(OrderFilter {
            status: self.named("status", OrderStatus::parse)?,
            provider: self.named("provider", Provider::parse)?,
            device_id: self.parsed("device_id", DeviceId::parse)?,
            out_order_no: self.parsed("out_order_no", OutOrderNo::parse)?,
        })
    }

    fn cursor(&self) -> Result<Option<OrderPosition>, ApiError> {
        self.parsed("cursor", |text| {
            decode_cursor(text).ok_or("cursor is not one this API gave out")
        })
    }

    fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.parsed("limit", |t| {
            t.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or(format!("limit must be 1-{MAX_PAGE_SIZE}"))
        })?;
        Ok(limit.unwrap_or(DEFAULT_PAGE_SIZE))
    }
}

/// The cursor handed out: the position's key, hex-encoded (opaque to callers).
fn encode_cursor(position: &OrderPosition) -> String {
    hex::encode(position.key())
}

fn decode_cursor(text: &str) -> Option<OrderPosition> {
    let bytes = hex::decode(text).ok()?;
    OrderPosition::parse_key(std::str::from_utf8(&bytes).ok()?)
}

fn today(app: &App) -> BusinessDate {
    BusinessDate::of(app.clock.now())
}

/// `GET /shops/{shop_id}/orders`
pub async fn list(app: &App, req: &Request, shop: &ShopId) -> Result<Response<Body>, ApiError> {
    let params = params(req, &["cursor", "limit"])?;
    let range = params.range(today(app))?;
    let query = OrderQuery {
        shop_id: shop.clone(),
        range,
        filter: params.filter()?,
        after: params.cursor()?,
        limit: params.limit()?,
    };
    let page = app.collection.list_shop_orders(&query).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "shop_id": shop,
            "from": range.from(),
            "to": range.to(),
            "orders": page.orders.iter().map(order_json).collect::<Vec<_>>(),
            "next_cursor": page.next.as_ref().map(encode_cursor),
        }),
    ))
}

/// Every order of the query's range that passes its filter, newest first;
/// more than [`MAX_EXPORT_ROWS`] is refused.
async fn all_orders(app: &App, mut query: OrderQuery) -> Result<Vec<Order>, ApiError> {
    query.limit = MAX_PAGE_SIZE;
    let mut orders = Vec::new();
    loop {
        let page = app.collection.list_shop_orders(&query).await?;
        orders.extend(page.orders);
        if orders.len() > MAX_EXPORT_ROWS {
            let mut err = ApiError::new(
                ErrorCode::ExportTooLarge,
                format!("an export holds at most {MAX_EXPORT_ROWS} orders; narrow the range"),
            );
            err.field = Some("from".to_owned());
            return Err(err);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(orders),
        }
    }
}

/// `GET /shops/{shop_id}/exports/orders?from=&to=&format=csv|xlsx&lang=zh|en`
pub async fn export(app: &App, req: &Request, shop: &ShopId) -> Result<Response<Body>, ApiError> {
    let params = params(req, &["format", "lang"])?;
    let xlsx = match params.get("format").unwrap_or("csv") {
        "csv" => false,
        "xlsx" => true,
        _ => return Err(ApiError::invalid("format", "format is csv or xlsx")),
    };
    let lang = params.named("lang", Lang::parse)?.unwrap_or(Lang::Zh);
    let range = params.range(today(app))?;
    let query = OrderQuery {
        shop_id: shop.clone(),
        range,
        filter: params.filter()?,
        after: None,
        limit: MAX_PAGE_SIZE,
    };
    let orders = all_orders(app, query).await?;
    let headers: &[&str] = match lang {
        Lang::Zh => &HEADERS_ZH,
        Lang::En => &HEADERS_EN,
    };
    let rendered: Vec<OrderRow<'_>> = orders.iter().map(|o| OrderRow::of(o, lang)).collect();
    let rows = rendered.iter().map(OrderRow::cells);
    let name = format!("orders-{shop}-{}-{}", range.from(), range.to());
    let (bytes, content_type, extension) = if xlsx {
        let mut book = qrpay_sheet::Workbook::new("orders", headers)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for row in rows {
            book.row(&row)
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        let bytes = book
            .finish()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        (bytes, qrpay_sheet::XLSX_CONTENT_TYPE, "xlsx")
    } else {
        (
            qrpay_sheet::csv_file(headers, rows),
            qrpay_sheet::CSV_CONTENT_TYPE,
            "csv",
        )
    };
    Ok(attachment(
        bytes,
        content_type,
        &format!("{name}.{extension}"),
    ))
}
