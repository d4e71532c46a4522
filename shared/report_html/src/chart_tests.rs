use super::*;

/// The `(name, value)` attribute pairs of every `<tag …>` in `svg`, in order.
fn elements<'a>(svg: &'a str, tag: &str) -> Vec<Vec<(&'a str, &'a str)>> {
    let opening = format!("<{tag} ");
    svg.match_indices(&opening)
        .map(|(at, _)| {
            let rest = &svg[at + opening.len()..];
            let head = &rest[..rest.find('>').unwrap_or(rest.len())];
            head.split('"')
                .collect::<Vec<_>>()
                .chunks(2)
                .filter(|pair| pair.len() == 2)
                .map(|pair| (pair[0].trim().trim_end_matches('='), pair[1]))
                .collect()
        })
        .collect()
}

fn attr<'a>(element: &[(&'a str, &'a str)], name: &str) -> &'a str {
    element
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| *v)
}

fn geometry(svg: &str, tag: &str, names: &[&str]) -> Vec<Vec<String>> {
    elements(svg, tag)
        .iter()
        .filter(|e| !attr(e, "class").is_empty())
        .map(|e| names.iter().map(|n| attr(e, n).to_owned()).collect())
        .collect()
}

fn two() -> Vec<Point> {
    vec![
        Point::new("上午", 50, "0.50"),
        Point::new("下午", 100, "1.00"),
    ]
}

#[test]
fn bars_stand_in_their_slots_as_tall_as_their_share_of_the_largest() {
    let svg = bar_chart("hours", "付款 Payments", &two());
    // Two slots of 576 / 2 = 288 across the plot, bars 3/4 of a slot,
    // centred; 50 of 100 is half of the 180 high plot.
    assert_eq!(
        geometry(&svg, "rect", &["x", "y", "width", "height"]),
        vec![
            vec!["92", "102", "216", "90"],
            vec!["380", "12", "216", "180"]
        ]
    );
    assert!(svg.starts_with(
        "<svg class=\"chart hours\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 220\" \
         width=\"640\" height=\"220\" role=\"img\" aria-label=\"付款 Payments\"><title>付款 Payments</title>"
    ));
    assert!(svg.contains("<title>下午: 1.00</title>"), "{svg}");
    // The largest value reads above the plot, 0 at the axis' foot.
    assert!(
        svg.contains(
            "<text class=\"top\" x=\"56\" y=\"10\" font-size=\"11\" fill=\"#777\">1.00</text>"
        ),
        "{svg}"
    );
    assert!(
        svg.contains("y=\"192\" text-anchor=\"end\" font-size=\"12\" fill=\"#777\">0</text>"),
        "{svg}"
    );
    assert!(svg.ends_with("</svg>"));
}

#[test]
fn a_line_joins_the_points_at_the_middle_of_their_slots() {
    let svg = line_chart("share", "占比 Share", &two());
    assert!(
        svg.contains("<polyline class=\"line\" points=\"200,102 488,12\""),
        "{svg}"
    );
    assert_eq!(
        geometry(&svg, "circle", &["cx", "cy"]),
        vec![vec!["200", "102"], vec!["488", "12"]]
    );
}

#[test]
fn a_share_bar_splits_the_whole_width_and_reads_each_part_in_percent() {
    let parts = vec![
        Point::new("alipay", 100, "1.00"),
        Point::new("douyin", 0, "0.00"),
        Point::new("wechatpay", 300, "3.00"),
    ];
    let svg = share_bar("providers", "渠道 Providers", &parts);
    assert_eq!(
        geometry(&svg, "rect", &["x", "width", "fill"]),
        vec![vec!["0", "160", "#1677ff"], vec!["160", "480", "#fa8c16"]]
    );
    assert!(svg.contains("height=\"114\""), "three legend lines: {svg}");
    assert!(svg.contains(">alipay  1.00  25.0%</text>"), "{svg}");
    assert!(svg.contains(">douyin  0.00  0.0%</text>"), "{svg}");
    assert!(svg.contains(">wechatpay  3.00  75.0%</text>"), "{svg}");
}

#[test]
fn an_empty_chart_says_so_instead_of_drawing() {
    for svg in [
        bar_chart("a", "t", &[]),
        line_chart("b", "t", &[]),
        share_bar("c", "t", &[]),
        share_bar("d", "t", &[Point::new("x", 0, "0.00")]),
    ] {
        assert!(svg.contains(">无数据 No data</text>"), "{svg}");
        assert!(!svg.contains("<rect"), "{svg}");
        assert!(!svg.contains("<polyline"), "{svg}");
    }
}

#[test]
fn one_value_fills_the_plot_and_zeros_draw_flat() {
    let svg = bar_chart("one", "t", &[Point::new("9时", 7, "0.07")]);
    assert_eq!(
        geometry(&svg, "rect", &["x", "y", "width", "height"]),
        vec![vec!["128", "12", "432", "180"]]
    );
    let svg = line_chart("one", "t", &[Point::new("1日", 0, "0")]);
    assert_eq!(
        geometry(&svg, "circle", &["cx", "cy"]),
        vec![vec!["344", "192"]]
    );
    let zeros = bar_chart(
        "zeros",
        "t",
        &[Point::new("a", 0, "0"), Point::new("b", -5, "-5")],
    );
    assert_eq!(
        geometry(&zeros, "rect", &["y", "height"]),
        vec![vec!["192", "0"], vec!["192", "0"]]
    );
}

#[test]
fn the_largest_values_scale_without_overflowing() {
    let huge = vec![
        Point::new("a", i64::MAX, "max"),
        Point::new("b", i64::MAX / 2, "half"),
        Point::new("c", 1, "1"),
    ];
    let svg = bar_chart("huge", "t", &huge);
    assert_eq!(
        geometry(&svg, "rect", &["height"]),
        vec![vec!["180"], vec!["89"], vec!["0"]]
    );
    let svg = share_bar("huge", "t", &huge);
    assert!(svg.contains(">a  max  66.7%</text>"), "{svg}");
    assert!(svg.contains(">b  half  33.3%</text>"), "{svg}");
    assert!(svg.contains(">c  1  0.0%</text>"), "{svg}");
    assert_eq!(scale(i64::MAX, i64::MAX, PLOT_HEIGHT), PLOT_HEIGHT);
    assert_eq!(scale(i64::MIN, i64::MAX, PLOT_HEIGHT), 0);
}

#[test]
fn many_points_keep_every_bar_and_label_only_some() {
    let hours: Vec<Point> = (0..24)
        .map(|h| Point::new(format!("{h}"), h, "x"))
        .collect();
    let svg = bar_chart("hours", "t", &hours);
    assert_eq!(elements(&svg, "rect").len(), 24);
    // 576 / 24 = 24 wide slots, 18 wide bars.
    let first = &geometry(&svg, "rect", &["x", "width"])[0];
    assert_eq!(first, &vec!["59".to_owned(), "18".to_owned()]);
    let labels = elements(&svg, "text")
        .iter()
        .filter(|e| attr(e, "class") == "label")
        .count();
    assert_eq!(labels, 12, "every other hour");
}

#[test]
fn labels_and_titles_cannot_break_out_of_the_drawing() {
    let evil = "<script>alert(\"x\")</script>&";
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;";
    for svg in [
        bar_chart("c", evil, &[Point::new(evil, 1, evil)]),
        line_chart("c", evil, &[Point::new(evil, 1, evil)]),
        share_bar("c", evil, &[Point::new(evil, 1, evil)]),
    ] {
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains(&format!("aria-label=\"{escaped}\"")), "{svg}");
        assert!(
            svg.contains(&format!("<title>{escaped}: {escaped}")),
            "{svg}"
        );
    }
}

#[test]
fn percentages_round_half_up_to_a_tenth() {
    assert_eq!(percent(1, 3), "33.3%");
    assert_eq!(percent(2, 3), "66.7%");
    assert_eq!(percent(1, 8), "12.5%");
    assert_eq!(percent(5, 0), "0.0%");
    assert_eq!(percent(7, 7), "100.0%");
}
