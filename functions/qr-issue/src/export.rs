//! An order as a row of the orders export (SPEC §11): the columns of seed
//! 000's daily report template that apply to an order (日期、订单编号、
//! 顾客信息摘要、分期信息、扣款状态), then the order's own facts. Which
//! cell is an id, text or money is said here; how a cell is written is
//! `qrpay_sheet`'s.

use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{BusinessDate, Order};
use qrpay_sheet::{Cell, Lang};

pub const HEADERS_ZH: [&str; 15] = [
    "日期",
    "订单编号",
    "商户订单号",
    "顾客信息摘要",
    "分期信息",
    "扣款状态",
    "订单金额",
    "实收金额",
    "退款金额",
    "订单状态",
    "支付渠道",
    "渠道交易号",
    "设备号",
    "创建时间",
    "支付时间",
];

pub const HEADERS_EN: [&str; 15] = [
    "date",
    "order_id",
    "out_order_no",
    "customer",
    "instalment",
    "deduction_status",
    "amount",
    "paid_amount",
    "refunded_amount",
    "status",
    "provider",
    "provider_txn_id",
    "device_id",
    "created_at",
    "paid_at",
];

/// The texts of a row made from an order (cells borrow them).
pub struct OrderRow<'a> {
    order: &'a Order,
    date: String,
    instalment: String,
    deductions: String,
    created_at: String,
    paid_at: String,
}

impl<'a> OrderRow<'a> {
    pub fn of(order: &'a Order, lang: Lang) -> OrderRow<'a> {
        let instalment = order
            .instalment_plan
            .as_ref()
            .map_or_else(String::new, |plan| {
                let first = plan.first_amount();
                match lang {
                    Lang::Zh => format!("{}期 首期{first}", plan.periods.as_u8()),
                    Lang::En => format!("{} periods, first {first}", plan.periods.as_u8()),
                }
            });
        let deductions: Vec<&str> = order.deductions.iter().map(|d| d.as_str()).collect();
        OrderRow {
            order,
            date: BusinessDate::of(order.created_at).to_string(),
            instalment,
            deductions: deductions.join("/"),
            created_at: rfc3339_beijing(order.created_at),
            paid_at: order.paid_at.map(rfc3339_beijing).unwrap_or_default(),
        }
    }

    /// The row's cells, in the headers' order.
    pub fn cells(&self) -> Vec<Cell<'_>> {
        let order = self.order;
        let text = |t: &'a str| {
            if t.is_empty() {
                Cell::Empty
            } else {
                Cell::Plain(t)
            }
        };
        let id = |t: Option<&'a str>| t.map_or(Cell::Empty, Cell::Id);
        vec![
            Cell::Plain(&self.date),
            Cell::Id(order.order_id.as_str()),
            id(order.out_order_no.as_ref().map(|o| o.as_str())),
            order
                .payer_masked
                .as_deref()
                .map_or(Cell::Empty, Cell::Text),
            text_of(&self.instalment),
            text_of(&self.deductions),
            Cell::Fen(order.amount.fen()),
            Cell::Fen(order.paid_amount.fen()),
            Cell::Fen(order.refunded_amount.fen()),
            text(order.status.as_str()),
            order
                .provider
                .map_or(Cell::Empty, |p| Cell::Plain(p.as_str())),
            id(order.provider_txn_id.as_ref().map(|t| t.as_str())),
            id(order.device_id.as_ref().map(|d| d.as_str())),
            Cell::Plain(&self.created_at),
            text_of(&self.paid_at),
        ]
    }
}

fn text_of(text: &str) -> Cell<'_> {
    if text.is_empty() {
        Cell::Empty
    } else {
        Cell::Plain(text)
    }
}
