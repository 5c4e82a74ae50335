//! Small, dependency-free SVG charts: lines, bars, histograms and a confusion grid, all drawn
//! on one 640 x 400 canvas with the same margins, fonts and colours.

use std::fmt::Write;

pub const W: f64 = 640.0;
pub const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 46.0;
const BOTTOM: f64 = 56.0;
pub const BLUE: &str = "#2f5fd0";
pub const RED: &str = "#d1453b";
pub const GREEN: &str = "#2f8f5b";
pub const GREY: &str = "#9aa1ae";
const INK: &str = "#1d2330";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn fmt_tick(v: f64) -> String {
    if v.abs() >= 1000.0 || (v - v.round()).abs() < 1e-9 {
        format!("{:.0}", v)
    } else if (v * 10.0 - (v * 10.0).round()).abs() < 1e-9 {
        format!("{:.1}", v)
    } else {
        format!("{:.2}", v)
    }
}

/// Round tick values covering [lo, hi].
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let start = (lo / step).ceil();
    let mut out = Vec::new();
    let mut i = 0.0;
    loop {
        let v = ((start + i) * step * 1e12).round() / 1e12;
        if v > hi + step * 1e-9 {
            break;
        }
        out.push(if v == 0.0 { 0.0 } else { v });
        i += 1.0;
    }
    out
}

/// A canvas with a title, axes and a data-to-pixel mapping.
pub struct Canvas {
    svg: String,
    x: (f64, f64),
    y: (f64, f64),
}

impl Canvas {
    pub fn new(id: &str, title: &str, x_label: &str, y_label: &str, x: (f64, f64), y: (f64, f64)) -> Canvas {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="DejaVu Sans, sans-serif" role="img" aria-label="{t}"><rect width="{W}" height="{H}" fill="white"/><text x="{LEFT}" y="26" font-size="16" font-weight="bold" fill="{INK}">{t}</text>"##,
            t = esc(title)
        );
        let mut c = Canvas { svg, x, y };
        c.axes(x_label, y_label);
        c
    }

    pub fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0).max(1e-12) * (W - LEFT - RIGHT)
    }

    pub fn py(&self, y: f64) -> f64 {
        H - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0).max(1e-12) * (H - TOP - BOTTOM)
    }

    fn axes(&mut self, x_label: &str, y_label: &str) {
        let (x0, x1, y0, y1) = (self.px(self.x.0), self.px(self.x.1), self.py(self.y.0), self.py(self.y.1));
        for t in ticks(self.y.0, self.y.1, 5) {
            let y = self.py(t);
            let _ = write!(
                self.svg,
                r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#e6e8ee"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#6b7385">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                fmt_tick(t)
            );
        }
        for t in ticks(self.x.0, self.x.1, 6) {
            let x = self.px(t);
            let _ = write!(
                self.svg,
                r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{:.1}" stroke="#6b7385"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#6b7385">{}</text>"##,
                y0 + 4.0,
                y0 + 17.0,
                fmt_tick(t)
            );
        }
        let _ = write!(
            self.svg,
            r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#6b7385"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#6b7385"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{INK}">{}</text><text transform="translate(16 {:.1}) rotate(-90)" font-size="12" text-anchor="middle" fill="{INK}">{}</text>"##,
            (x0 + x1) / 2.0,
            H - 14.0,
            esc(x_label),
            (y0 + y1) / 2.0,
            esc(y_label)
        );
    }

    pub fn line(&mut self, points: &[(f64, f64)], color: &str, width: f64, dashed: bool) {
        if points.is_empty() {
            return;
        }
        let mut d = String::new();
        for (i, (x, y)) in points.iter().enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, self.px(*x), self.py(*y));
        }
        let _ = write!(
            self.svg,
            r##"<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"{}/>"##,
            if dashed { r##" stroke-dasharray="5 4""## } else { "" }
        );
    }

    pub fn dots(&mut self, points: &[(f64, f64, f64)], color: &str) {
        for (x, y, r) in points {
            let _ = write!(
                self.svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="{:.1}" fill="{color}" fill-opacity="0.8"/>"##,
                self.px(*x),
                self.py(*y),
                r
            );
        }
    }

    /// A bar from y = 0 (or the axis floor) to `y`, centred at `x`, `width` in data units.
    pub fn bar(&mut self, x: f64, width: f64, y: f64, color: &str, opacity: f64) {
        let base = self.py(self.y.0.max(0.0).min(self.y.1));
        let top = self.py(y);
        let (x0, x1) = (self.px(x - width / 2.0), self.px(x + width / 2.0));
        let _ = write!(
            self.svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="{opacity}"/>"##,
            x0.min(x1),
            top.min(base),
            (x1 - x0).abs().max(0.5),
            (base - top).abs()
        );
    }

    pub fn vline(&mut self, x: f64, color: &str, label: &str) {
        let px = self.px(x);
        let _ = write!(
            self.svg,
            r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="6 3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="{color}">{}</text>"##,
            self.py(self.y.0),
            self.py(self.y.1),
            px + 4.0,
            self.py(self.y.1) + 12.0,
            esc(label)
        );
    }

    pub fn text(&mut self, x: f64, y: f64, s: &str, size: f64, color: &str, anchor: &str) {
        let _ = write!(
            self.svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="{size}" text-anchor="{anchor}" fill="{color}">{}</text>"##,
            self.px(x),
            self.py(y),
            esc(s)
        );
    }

    /// A legend in the top-right corner.
    pub fn legend(&mut self, items: &[(&str, &str)]) {
        self.legend_at(items, false);
    }

    /// A legend in the top-right or bottom-right corner (clear of rising curves).
    pub fn legend_at(&mut self, items: &[(&str, &str)], bottom: bool) {
        let first = if bottom { H - BOTTOM - 12.0 - 18.0 * (items.len() as f64 - 1.0) } else { TOP + 6.0 };
        for (i, (label, color)) in items.iter().enumerate() {
            let y = first + i as f64 * 18.0;
            let x = W - RIGHT - 190.0;
            let _ = write!(
                self.svg,
                r##"<rect x="{x}" y="{:.1}" width="14" height="4" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="{INK}">{}</text>"##,
                y - 4.0,
                x + 20.0,
                y + 1.0,
                esc(label)
            );
        }
    }

    pub fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// Horizontal bars with labels on the left (importance).
pub fn hbars(id: &str, title: &str, x_label: &str, items: &[(String, f64)], color: &str) -> String {
    let mut svg = String::new();
    let n = items.len().max(1);
    let row = ((H - TOP - BOTTOM) / n as f64).min(26.0);
    let left = 190.0;
    let max = items.iter().map(|i| i.1).fold(0.0f64, f64::max).max(1e-9);
    let _ = write!(
        svg,
        r##"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="DejaVu Sans, sans-serif" role="img" aria-label="{t}"><rect width="{W}" height="{H}" fill="white"/><text x="{LEFT}" y="26" font-size="16" font-weight="bold" fill="{INK}">{t}</text>"##,
        t = esc(title)
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let y = TOP + i as f64 * row;
        let w = v / max * (W - left - RIGHT - 50.0);
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="{INK}">{}</text><rect x="{left}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#6b7385">{v:.3}</text>"##,
            left - 8.0,
            y + row * 0.68,
            esc(label),
            y + row * 0.15,
            row * 0.7,
            left + w + 6.0,
            y + row * 0.68
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{INK}">{}</text></svg>"##,
        (left + W) / 2.0,
        H - 14.0,
        esc(x_label)
    );
    svg
}

/// The 2 x 2 confusion matrix.
pub fn confusion(id: &str, title: &str, tp: u64, fp: u64, tn: u64, fn_: u64, labels: (&str, &str)) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg id="{id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="DejaVu Sans, sans-serif" role="img" aria-label="{t}"><rect width="{W}" height="{H}" fill="white"/><text x="{LEFT}" y="26" font-size="16" font-weight="bold" fill="{INK}">{t}</text>"##,
        t = esc(title)
    );
    let total = (tp + fp + tn + fn_).max(1) as f64;
    let cells = [
        (0, 0, tn, "true negatives", GREEN),
        (1, 0, fp, "false positives", RED),
        (0, 1, fn_, "false negatives", RED),
        (1, 1, tp, "true positives", GREEN),
    ];
    let (x0, y0, size) = (200.0, 70.0, 140.0);
    for (col, row, n, what, color) in cells {
        let x = x0 + col as f64 * size;
        let y = y0 + row as f64 * size;
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{color}" fill-opacity="{:.2}" stroke="#ffffff" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="24" font-weight="bold" text-anchor="middle" fill="{INK}">{n}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="{INK}">{what} ({:.1}%)</text>"##,
            0.15 + 0.6 * n as f64 / total,
            x + size / 2.0,
            y + size / 2.0,
            x + size / 2.0,
            y + size / 2.0 + 22.0,
            100.0 * n as f64 / total
        );
    }
    let (neg, pos) = labels;
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{INK}">predicted {}</text><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="{INK}">predicted {}</text><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="{INK}">actual {}</text><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="{INK}">actual {}</text></svg>"##,
        x0 + size / 2.0,
        y0 + 2.0 * size + 20.0,
        esc(neg),
        x0 + 1.5 * size,
        y0 + 2.0 * size + 20.0,
        esc(pos),
        x0 - 10.0,
        y0 + size / 2.0,
        esc(neg),
        x0 - 10.0,
        y0 + 1.5 * size,
        esc(pos)
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = ticks(-130.0, 970.0, 5);
        assert!(t.first().unwrap() >= &-130.0 && t.last().unwrap() <= &970.0 && t.len() >= 4);
    }

    #[test]
    fn charts_are_well_formed_svg() {
        let mut c = Canvas::new("roc", "ROC <curve>", "x", "y", (0.0, 1.0), (0.0, 1.0));
        c.line(&[(0.0, 0.0), (0.5, 0.8), (1.0, 1.0)], BLUE, 2.0, false);
        let svg = c.finish();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>") && svg.contains("ROC &lt;curve&gt;"));
        assert!(confusion("cm", "t", 1, 2, 3, 4, ("No", "Yes")).contains("true positives"));
    }
}
