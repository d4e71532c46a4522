//! The checkout page a buyer's phone opens at `/pay/{token}` (SPEC §10):
//! the shop's display name, the amount (or a field for a static code), the
//! monthly-pay plan with its first period and schedule, who pays the fee,
//! the code's expiry, and one button per way to pay that works where the
//! page is open. Plain HTML forms: it works without JavaScript.

use chrono::{DateTime, Utc};
use qrpay_domain::time::minutes_beijing;
use qrpay_domain::{Amount, FeePayer, InstalmentPlan, PlanPeriods};

use super::html::{document, escape};
use super::way::{Container, PayWay};

/// What the page shows.
pub struct CheckoutView<'a> {
    pub shop_name: &'a str,
    pub description: Option<&'a str>,
    /// The amount to pay: the code's, or the one a static code's buyer typed.
    pub amount: Option<Amount>,
    pub plan: Option<&'a InstalmentPlan>,
    /// A static code offering monthly pay, before the amount is known.
    pub plan_periods: Option<PlanPeriods>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ways: &'a [PayWay],
    /// `/pay/{token}`: where the form goes.
    pub action: &'a str,
    /// The buyer types the amount (static code).
    pub static_code: bool,
    pub container: Container,
}

pub fn render(view: &CheckoutView<'_>) -> String {
    let mut body = String::new();
    body.push_str(&header(view));
    if let Some(plan) = view.plan {
        body.push_str(&plan_block(plan));
    } else if let Some(periods) = view.plan_periods {
        body.push_str(&format!(
            "<div class=\"card plan\" id=\"plan\"><p>支持月付 <strong>{periods}</strong> 期：输入金额后可查看首期和每期金额。</p></div>"
        ));
    }
    body.push_str(&pay_form(view));
    if let Some(expires_at) = view.expires_at {
        body.push_str(&format!(
            "<p class=\"muted\" id=\"expiry\">请在 {} 前完成支付</p>",
            minutes_beijing(expires_at)
        ));
    }
    body.push_str("<p class=\"muted\">付款后本页会显示支付结果和电子凭证。</p>");
    document(&format!("向{}付款", view.shop_name), "", &body)
}

fn header(view: &CheckoutView<'_>) -> String {
    let description = view
        .description
        .map(|d| format!("<p class=\"muted\" id=\"description\">{}</p>", escape(d)))
        .unwrap_or_default();
    let amount = view
        .amount
        .map(|a| format!("<p class=\"amount\" id=\"amount\">¥{a}</p>"))
        .unwrap_or_default();
    format!(
        "<div class=\"card\"><p class=\"muted\">付款给</p><h1 id=\"shop\">{}</h1>{description}{amount}</div>",
        escape(view.shop_name)
    )
}

/// "月付 3 期，首期仅需 ¥200.00", the schedule and who bears the fee.
pub fn plan_block(plan: &InstalmentPlan) -> String {
    let first = plan.first_amount();
    let rows: String = plan
        .schedule
        .iter()
        .enumerate()
        .map(|(i, a)| format!("<tr><td>第 {} 期</td><td class=\"r\">¥{a}</td></tr>", i + 1))
        .collect();
    let fee = match plan.fee_payer {
        FeePayer::Shop => format!("手续费 ¥{}，由商家承担", plan.fee),
        FeePayer::Buyer => format!("手续费 ¥{}，由您承担（已计入每期金额）", plan.fee),
    };
    format!(
        "<div class=\"card plan\" id=\"plan\"><p>月付 <strong>{}</strong> 期，<strong id=\"first\">首期仅需 ¥{first}</strong></p>\
         <table id=\"schedule\">{rows}</table><p class=\"muted\" id=\"fee\">{fee}</p></div>",
        plan.periods
    )
}

fn pay_form(view: &CheckoutView<'_>) -> String {
    if view.ways.is_empty() {
        return dead_end_help(view.container);
    }
    let mut form = format!(
        "<form class=\"card\" method=\"post\" action=\"{}\" accept-charset=\"utf-8\">",
        escape(view.action)
    );
    if view.static_code {
        match view.amount {
            // Previewed: the amount is fixed now, the buttons pay it.
            Some(amount) if view.plan.is_some() => form.push_str(&format!(
                "<input type=\"hidden\" name=\"amount\" value=\"{amount}\">"
            )),
            typed => form.push_str(&format!(
                "<label for=\"amount-input\">付款金额（元）</label>\
                 <input type=\"text\" id=\"amount-input\" name=\"amount\" inputmode=\"decimal\" autocomplete=\"off\" \
                 placeholder=\"0.00\" maxlength=\"12\" required value=\"{}\">",
                typed.map(|a| a.to_string()).unwrap_or_default()
            )),
        }
    }
    for way in view.ways {
        form.push_str(&format!(
            "<button type=\"submit\" name=\"method\" value=\"{}\" class=\"{}\" id=\"pay-{}\">{}</button>",
            way.as_str(),
            way.class(),
            way.as_str(),
            way.label()
        ));
    }
    form.push_str("</form>");
    if view.static_code && view.plan_periods.is_some() && view.plan.is_none() {
        form.push_str(&format!(
            "<form class=\"card\" method=\"get\" action=\"{}\"><label for=\"preview-amount\">先看分期</label>\
             <input type=\"text\" id=\"preview-amount\" name=\"amount\" inputmode=\"decimal\" maxlength=\"12\" required>\
             <button type=\"submit\" class=\"secondary\" id=\"preview\">查看每期金额</button></form>",
            escape(view.action)
        ));
    }
    form
}

/// Never a dead end: where nothing can be paid here, say where it can.
fn dead_end_help(container: Container) -> String {
    let advice = match container {
        Container::Wechat | Container::WechatDesktop | Container::Douyin => {
            "请点击右上角「…」，选择「在浏览器中打开」，在浏览器中完成付款。"
        }
        _ => "这里暂时无法付款：请用支付宝或微信扫一扫商家的付款码。",
    };
    format!("<div class=\"card\" id=\"no-way\"><p>{advice}</p></div>")
}
