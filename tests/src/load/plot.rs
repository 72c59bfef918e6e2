//! The saturation plot: submit → final latency (p50, p90, p99) and committed rate against the
//! offered rate, as a self-contained SVG (no plotting dependency: a few lines and labels).

use super::report::Step;
use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One plotted series: a name, a colour and a value per step.
struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    value: fn(&Step) -> f64,
}

/// Renders the steps (sorted by offered rate) as an SVG document.
pub fn saturation_svg(steps: &[Step], title: &str) -> String {
    let mut steps: Vec<&Step> = steps.iter().collect();
    steps.sort_by_key(|s| s.offered_tps);
    let x_max = nice_ceiling(steps.iter().map(|s| f64::from(s.offered_tps)).fold(1.0, f64::max));
    let latency_max = nice_ceiling(steps.iter().map(|s| s.latency_ms.p99).fold(1.0, f64::max));
    let rate_max = x_max;
    let x = |v: f64| LEFT + v / x_max * (WIDTH - LEFT - RIGHT);
    let y_latency = |v: f64| HEIGHT - BOTTOM - v / latency_max * (HEIGHT - TOP - BOTTOM);
    let y_rate = |v: f64| HEIGHT - BOTTOM - v / rate_max * (HEIGHT - TOP - BOTTOM);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Axes and ticks.
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let _ = writeln!(svg, r#"<path d="M{x0} {y1} L{x0} {y0} L{x1} {y0} L{x1} {y1}" fill="none" stroke="black"/>"#);
    for i in 0..=5 {
        let f = f64::from(i) / 5.0;
        let (tx, ty) = (x(f * x_max), y_latency(f * latency_max));
        let _ = writeln!(svg, r##"<line x1="{x0}" y1="{ty}" x2="{x1}" y2="{ty}" stroke="#ddd"/>"##);
        let _ = writeln!(svg, r#"<text x="{tx}" y="{}" text-anchor="middle">{:.0}</text>"#, y0 + 16.0, f * x_max);
        let _ =
            writeln!(svg, r#"<text x="{}" y="{}" text-anchor="end">{:.0}</text>"#, x0 - 6.0, ty + 4.0, f * latency_max);
        let _ =
            writeln!(svg, r#"<text x="{}" y="{}">{:.0}</text>"#, x1 + 6.0, y_rate(f * rate_max) + 4.0, f * rate_max);
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">offered transfers/s</text>"#,
        (x0 + x1) / 2.0,
        HEIGHT - 12.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">submit → final latency, ms</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(90 {} {})">committed transfers/s</text>"#,
        WIDTH - 14.0,
        (y0 + y1) / 2.0,
        WIDTH - 14.0,
        (y0 + y1) / 2.0
    );
    let latency: [Series; 3] = [
        Series { name: "p50", colour: "#1f77b4", value: |s| s.latency_ms.p50 },
        Series { name: "p90", colour: "#ff7f0e", value: |s| s.latency_ms.p90 },
        Series { name: "p99", colour: "#d62728", value: |s| s.latency_ms.p99 },
    ];
    let committed = Series { name: "committed/s", colour: "#2ca02c", value: |s| s.committed_tps_steady };
    let mut legend_y = TOP + 10.0;
    let mut draw = |series: &Series, y: &dyn Fn(f64) -> f64, dashed: bool| {
        let points: Vec<String> =
            steps.iter().map(|s| format!("{:.1},{:.1}", x(f64::from(s.offered_tps)), y((series.value)(s)))).collect();
        let dash = if dashed { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            points.join(" "),
            series.colour
        );
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(svg, r#"<circle cx="{px}" cy="{py}" r="3" fill="{}"/>"#, series.colour);
        }
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            x0 + 10.0,
            x0 + 34.0,
            series.colour,
            x0 + 40.0,
            legend_y + 4.0,
            series.name
        );
        legend_y += 16.0;
    };
    for series in &latency {
        draw(series, &y_latency, false);
    }
    draw(&committed, &y_rate, true);
    svg.push_str("</svg>\n");
    svg
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|c| *c >= v).unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(4_106.0), 5_000.0);
        assert_eq!(nice_ceiling(1_000.0), 1_000.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
