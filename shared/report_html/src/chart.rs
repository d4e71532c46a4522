//! Charts drawn on the server as inline SVG: a bar chart, a share bar (one
//! bar split by part, with a legend) and a line chart. No script, no style
//! attribute (the page's policy allows neither): colours and sizes are SVG
//! presentation attributes, the page's stylesheet only scales the whole.
//!
//! Geometry is whole pixels, computed in `i128` from the `i64` values (fen,
//! counts, basis points), so no value can overflow it; negative values are
//! drawn as zero. Every label and title is escaped.

use std::fmt::Write as _;

use qrpay_http::html::escape;

/// The drawing's size, in SVG user units (the page scales it to fit).
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 220;
/// The plot area of bar and line charts: left of it the axis labels,
/// below it the point labels.
pub const PLOT_LEFT: u32 = 56;
pub const PLOT_TOP: u32 = 12;
pub const PLOT_WIDTH: u32 = 576;
pub const PLOT_HEIGHT: u32 = 180;
/// At most this many point labels under a chart; the others are skipped.
const MAX_LABELS: usize = 12;

/// Part colours, in order (then again from the start).
pub const PALETTE: [&str; 7] = [
    "#1677ff", "#07c160", "#fa8c16", "#722ed1", "#13c2c2", "#eb2f96", "#8c8c8c",
];

/// One bar, segment or point: what it is, its value, and how the value
/// reads (`12.50`, `3`, `62.5%`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub label: String,
    pub value: i64,
    pub shown: String,
}

impl Point {
    pub fn new(label: impl Into<String>, value: i64, shown: impl Into<String>) -> Point {
        Point {
            label: label.into(),
            value,
            shown: shown.into(),
        }
    }
}

/// `value` of `max` as a length of `span`, rounded down; 0 if nothing is
/// above zero.
pub fn scale(value: i64, max: i64, span: u32) -> u32 {
    if max <= 0 || value <= 0 {
        return 0;
    }
    let length = i128::from(value.min(max)) * i128::from(span) / i128::from(max);
    u32::try_from(length).unwrap_or(span)
}

/// The opening of a chart's SVG, with its accessible title.
fn open(out: &mut String, class: &str, title: &str, height: u32) {
    let title = escape(title);
    let _ = write!(
        out,
        "<svg class=\"chart {class}\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         role=\"img\" aria-label=\"{title}\"><title>{title}</title>"
    );
}

/// What an empty chart says.
fn no_data(out: &mut String, class: &str, title: &str) {
    open(out, class, title, HEIGHT);
    let _ = write!(
        out,
        "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" \
         fill=\"#777\">无数据 No data</text></svg>",
        WIDTH / 2,
        HEIGHT / 2
    );
}

/// The axis, the largest value's reading above the plot and 0 at its foot,
/// and every point's label (every k-th when there are many).
fn frame(out: &mut String, points: &[Point], max: i64, slot: u32) {
    let bottom = PLOT_TOP + PLOT_HEIGHT;
    let right = PLOT_LEFT + PLOT_WIDTH;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{PLOT_LEFT}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" \
         stroke=\"#999\" stroke-width=\"1\"/>"
    );
    let top = points
        .iter()
        .find(|p| p.value == max)
        .map_or(String::new(), |p| escape(&p.shown));
    let _ = write!(
        out,
        "<text class=\"top\" x=\"{PLOT_LEFT}\" y=\"{}\" font-size=\"11\" fill=\"#777\">{top}</text>\
         <text x=\"{}\" y=\"{bottom}\" text-anchor=\"end\" font-size=\"12\" fill=\"#777\">0</text>",
        PLOT_TOP - 2,
        PLOT_LEFT - 4
    );
    let every = points.len().div_ceil(MAX_LABELS).max(1);
    for (i, point) in points.iter().enumerate().step_by(every) {
        let x = slot_left(i, slot) + slot / 2;
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" \
             fill=\"#555\">{}</text>",
            bottom + 16,
            escape(&point.label)
        );
    }
}

fn slot_left(i: usize, slot: u32) -> u32 {
    PLOT_LEFT + u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(slot)
}

/// Width of each point's slot across the plot (at least 1).
fn slot_width(points: &[Point]) -> u32 {
    let n = u32::try_from(points.len()).unwrap_or(u32::MAX).max(1);
    (PLOT_WIDTH / n).max(1)
}

fn max_value(points: &[Point]) -> i64 {
    points.iter().map(|p| p.value).max().unwrap_or(0)
}

/// Vertical bars, one per point, as tall as the value against the largest.
pub fn bar_chart(class: &str, title: &str, points: &[Point]) -> String {
    let mut out = String::new();
    if points.is_empty() {
        no_data(&mut out, class, title);
        return out;
    }
    let max = max_value(points);
    let slot = slot_width(points);
    let bar = (slot * 3 / 4).max(1);
    open(&mut out, class, title, HEIGHT);
    frame(&mut out, points, max, slot);
    let bottom = PLOT_TOP + PLOT_HEIGHT;
    for (i, point) in points.iter().enumerate() {
        let height = scale(point.value, max, PLOT_HEIGHT);
        let x = slot_left(i, slot) + (slot - bar) / 2;
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{height}\" \
             fill=\"{}\"><title>{}: {}</title></rect>",
            bottom - height,
            PALETTE[0],
            escape(&point.label),
            escape(&point.shown)
        );
    }
    out.push_str("</svg>");
    out
}

/// A line through the points, each marked with a dot.
pub fn line_chart(class: &str, title: &str, points: &[Point]) -> String {
    let mut out = String::new();
    if points.is_empty() {
        no_data(&mut out, class, title);
        return out;
    }
    let max = max_value(points);
    let slot = slot_width(points);
    open(&mut out, class, title, HEIGHT);
    frame(&mut out, points, max, slot);
    let bottom = PLOT_TOP + PLOT_HEIGHT;
    let at: Vec<(u32, u32)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                slot_left(i, slot) + slot / 2,
                bottom - scale(p.value, max, PLOT_HEIGHT),
            )
        })
        .collect();
    let line: Vec<String> = at.iter().map(|(x, y)| format!("{x},{y}")).collect();
    let _ = write!(
        out,
        "<polyline class=\"line\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
        line.join(" "),
        PALETTE[0]
    );
    for (point, (x, y)) in points.iter().zip(at) {
        let _ = write!(
            out,
            "<circle class=\"dot\" cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{}\"><title>{}: {}</title></circle>",
            PALETTE[0],
            escape(&point.label),
            escape(&point.shown)
        );
    }
    out.push_str("</svg>");
    out
}

/// Height of a share bar with `parts` legend lines.
pub fn share_height(parts: usize) -> u32 {
    48 + 22 * u32::try_from(parts).unwrap_or(0)
}

/// One bar across the width, split into the parts' shares, with a legend
/// line per part (`label  shown  62.5%`). Parts at zero keep their legend
/// line and get no segment.
pub fn share_bar(class: &str, title: &str, parts: &[Point]) -> String {
    let mut out = String::new();
    let total: i128 = parts.iter().map(|p| i128::from(p.value.max(0))).sum();
    if parts.is_empty() || total == 0 {
        no_data(&mut out, class, title);
        return out;
    }
    open(&mut out, class, title, share_height(parts.len()));
    let mut before: i128 = 0;
    let edge = |sum: i128| u32::try_from(sum * i128::from(WIDTH) / total).unwrap_or(WIDTH);
    for (i, part) in parts.iter().enumerate() {
        let value = i128::from(part.value.max(0));
        let (x, end) = (edge(before), edge(before + value));
        before += value;
        let colour = PALETTE[i % PALETTE.len()];
        let label = escape(&part.label);
        let shown = escape(&part.shown);
        let share = percent(value, total);
        if end > x {
            let _ = write!(
                out,
                "<rect class=\"segment\" x=\"{x}\" y=\"8\" width=\"{}\" height=\"32\" \
                 fill=\"{colour}\"><title>{label}: {shown} ({share})</title></rect>",
                end - x
            );
        }
        let y = 48 + 22 * u32::try_from(i).unwrap_or(0);
        let _ = write!(
            out,
            "<rect x=\"0\" y=\"{y}\" width=\"14\" height=\"14\" fill=\"{colour}\"/>\
             <text x=\"20\" y=\"{}\" font-size=\"13\" fill=\"#222\">{label}  {shown}  {share}</text>",
            y + 12
        );
    }
    out.push_str("</svg>");
    out
}

/// `part` of `whole` as a percentage to one decimal, half up: `62.5%`.
pub fn percent(part: i128, whole: i128) -> String {
    if whole <= 0 {
        return "0.0%".to_owned();
    }
    let tenths = (part.max(0) * 1000 + whole / 2) / whole;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
