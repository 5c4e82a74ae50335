//! The calibrated Telco generator: `churn synth`, the project's embedded default data.
//!
//! Customers are drawn in a causal order that mirrors how the real file hangs together:
//! demographics, then the contract, tenure given the contract, services given contract and
//! tenure, billing, charges from the services (MonthlyCharges in the real file is almost exactly
//! a price list: 25 DSL, 50 fiber, 20 phone, 5 per add-on, 10 per streaming service), and last
//! churn from a logistic model of the main drivers. Every rate below was read off the IBM file's
//! aggregates (not its rows); `tests/synth.rs` checks that the output lands near them.
//!
//! Streams: rows are made in chunks, each from its own seeded stream, so the output is the same
//! for any thread count and memory stays bounded whatever `--rows` is.

use crate::random::Rng;
use crate::table::writer::{Cell, ColumnType, TableWriter};
use crate::table::{Format, TableError};
use std::io::Write;
use std::path::Path;

pub const COLUMNS: [&str; 21] = [
    "customerID",
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    "Churn",
];

const CONTRACTS: [&str; 3] = ["Month-to-month", "One year", "Two year"];
const INTERNET: [&str; 3] = ["DSL", "Fiber optic", "No"];
const PAYMENTS: [&str; 4] =
    ["Bank transfer (automatic)", "Credit card (automatic)", "Electronic check", "Mailed check"];

// Contract mix: Month-to-month 55.0 %, One year 20.9 %, Two year 24.1 %.
const CONTRACT_MIX: [f64; 3] = [0.5502, 0.2091, 0.2407];
// Tenure given contract, over bins [0], 1-6, 7-12, 13-24, 25-36, 37-48, 49-60, 61-71, [72].
const TENURE_BINS: [(u32, u32); 9] =
    [(0, 0), (1, 6), (7, 12), (13, 24), (25, 36), (37, 48), (49, 60), (61, 71), (72, 72)];
const TENURE_GIVEN_CONTRACT: [[f64; 9]; 3] = [
    [0.0, 0.3646, 0.1499, 0.1902, 0.1254, 0.0815, 0.0604, 0.0274, 0.0005],
    [0.0007, 0.0258, 0.0577, 0.1337, 0.1697, 0.1819, 0.2179, 0.2010, 0.0115],
    [0.0059, 0.0112, 0.0230, 0.0531, 0.0566, 0.1050, 0.1634, 0.3794, 0.2024],
];
// Internet service (DSL, Fiber optic, No) given contract; seniors lean to fiber.
const INTERNET_GIVEN_CONTRACT: [[f64; 3]; 3] = [[0.316, 0.549, 0.135], [0.387, 0.366, 0.247], [0.371, 0.253, 0.376]];
const INTERNET_SENIOR: [f64; 3] = [0.227, 0.728, 0.046];
// P(add-on = Yes) given internet (DSL, Fiber) and contract, for OnlineSecurity, OnlineBackup,
// DeviceProtection, TechSupport, StreamingTV, StreamingMovies.
const ADDON_RATE: [[[f64; 3]; 2]; 6] = [
    [[0.30, 0.58, 0.77], [0.17, 0.41, 0.61]],
    [[0.30, 0.49, 0.69], [0.33, 0.64, 0.72]],
    [[0.23, 0.54, 0.76], [0.32, 0.63, 0.79]],
    [[0.28, 0.57, 0.82], [0.16, 0.42, 0.72]],
    [[0.24, 0.45, 0.64], [0.47, 0.74, 0.82]],
    [[0.25, 0.45, 0.66], [0.47, 0.75, 0.82]],
];
const PAYMENT_GIVEN_CONTRACT: [[f64; 4]; 3] =
    [[0.152, 0.140, 0.477, 0.230], [0.265, 0.270, 0.236, 0.229], [0.333, 0.343, 0.099, 0.225]];

/// One synthetic customer, with categorical fields as indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthCustomer {
    pub male: bool,
    pub senior: bool,
    pub partner: bool,
    pub dependents: bool,
    pub tenure: u32,
    pub phone: bool,
    pub multiple_lines: bool,
    /// 0 DSL, 1 Fiber optic, 2 No.
    pub internet: usize,
    pub addons: [bool; 6],
    pub contract: usize,
    pub paperless: bool,
    pub payment: usize,
    pub monthly_cents: u64,
    /// None for tenure 0: the IBM file leaves TotalCharges blank for customers not billed yet.
    pub total_cents: Option<u64>,
    pub churn: bool,
}

impl SynthCustomer {
    pub fn draw(rng: &mut Rng) -> SynthCustomer {
        let male = rng.chance(0.5048);
        let senior = rng.chance(0.1621);
        let partner = rng.chance(if senior { 0.502 } else { 0.479 });
        let dependents = rng.chance(match (partner, senior) {
            (true, false) => 0.56,
            (true, true) => 0.16,
            (false, false) => 0.11,
            (false, true) => 0.03,
        });
        let contract = rng.pick(&CONTRACT_MIX);
        let (lo, hi) = TENURE_BINS[rng.pick(&TENURE_GIVEN_CONTRACT[contract])];
        let tenure = rng.int_in(lo, hi);
        let internet = if senior && rng.chance(0.5) {
            rng.pick(&INTERNET_SENIOR)
        } else {
            rng.pick(&INTERNET_GIVEN_CONTRACT[contract])
        };
        let phone = internet != 0 || rng.chance(0.718);
        let multiple_lines = phone
            && rng.chance(match tenure {
                0..=12 => 0.254,
                13..=24 => 0.404,
                25..=48 => 0.495,
                _ => 0.683,
            });
        let mut addons = [false; 6];
        if internet < 2 {
            for (k, a) in addons.iter_mut().enumerate() {
                *a = rng.chance(ADDON_RATE[k][internet][contract]);
            }
        }
        let paperless = rng.chance(
            [0.71, 0.59, 0.51][contract]
                + match internet {
                    0 => -0.05,
                    1 => 0.08,
                    _ => -0.30,
                },
        );
        let payment = rng.pick(&PAYMENT_GIVEN_CONTRACT[contract]);

        let price = match internet {
            0 => 25.0,
            1 => 50.0,
            _ => 0.0,
        } + if phone { 20.0 } else { 0.0 }
            + if multiple_lines { 5.0 } else { 0.0 }
            + addons[..4].iter().filter(|&&a| a).count() as f64 * 5.0
            + addons[4..].iter().filter(|&&a| a).count() as f64 * 10.0;
        let monthly = (price + rng.normal()).clamp(18.25, 118.75);
        let monthly_cents = ((monthly * 20.0).round() * 5.0) as u64;
        let total_cents = match tenure {
            0 => None,
            1 => Some(monthly_cents),
            t => {
                let ratio = (1.0 + 0.05 * rng.normal()).clamp(0.69, 1.57);
                Some((t as f64 * monthly_cents as f64 * ratio).round() as u64)
            }
        };

        // Logistic churn model fitted on the IBM file's main drivers.
        let yes = |b: bool| if b { 1.0 } else { 0.0 };
        let logit = 0.17
            + [0.0, -0.705, -1.705][contract]
            + [0.801, 1.743, 0.0][internet]
            + [0.0, 0.0, 0.292, -0.097][payment]
            + 0.349 * yes(paperless)
            + 0.222 * yes(senior)
            + 0.030 * yes(partner)
            - 0.132 * yes(dependents)
            - 0.762 * (tenure as f64).ln_1p()
            + 0.025 * tenure as f64 / 12.0
            - 0.317 * yes(addons[0])
            - 0.126 * yes(addons[1])
            + 0.023 * yes(addons[2])
            - 0.282 * yes(addons[3])
            + 0.307 * yes(addons[4])
            + 0.319 * yes(addons[5])
            + 0.371 * yes(multiple_lines)
            - 0.555 * yes(phone);
        let churn = rng.uniform() < 1.0 / (1.0 + (-logit).exp());

        SynthCustomer {
            male,
            senior,
            partner,
            dependents,
            tenure,
            phone,
            multiple_lines,
            internet,
            addons,
            contract,
            paperless,
            payment,
            monthly_cents,
            total_cents,
            churn,
        }
    }

    fn multiple_lines_text(&self) -> &'static str {
        match (self.phone, self.multiple_lines) {
            (false, _) => "No phone service",
            (true, true) => "Yes",
            (true, false) => "No",
        }
    }

    fn addon_text(&self, k: usize) -> &'static str {
        match (self.internet, self.addons[k]) {
            (2, _) => "No internet service",
            (_, true) => "Yes",
            (_, false) => "No",
        }
    }
}

/// Customer ids in the IBM form `NNNN-XXXXX`, unique per row: the row index goes through a
/// bijection of [0, 10^4 * 26^5) (a multiplier coprime to the range), so ids never repeat.
pub fn customer_id(row: u64, seed: u64, out: &mut Vec<u8>) {
    const LETTERS: u64 = 26 * 26 * 26 * 26 * 26;
    const RANGE: u128 = 10_000 * LETTERS as u128;
    const MULT: u128 = 2_654_435_761; // prime, so coprime to 2^9 * 5^4 * 13^5
    let offset = (seed as u128).wrapping_mul(0x9E37_79B9) % RANGE;
    let x = ((row as u128 * MULT + offset) % RANGE) as u64;
    let digits = x / LETTERS;
    let mut letters = x % LETTERS;
    let start = out.len();
    out.extend_from_slice(format!("{digits:04}-").as_bytes());
    let mut tail = [0u8; 5];
    for t in tail.iter_mut().rev() {
        *t = b'A' + (letters % 26) as u8;
        letters /= 26;
    }
    out.extend_from_slice(&tail);
    debug_assert_eq!(out.len() - start, 10);
}

/// Money as the IBM file prints it (Python's float repr): 29.85, 820.5, 84.
fn push_money(out: &mut Vec<u8>, cents: u64) {
    let whole = cents / 100;
    let frac = cents % 100;
    out.extend_from_slice(whole.to_string().as_bytes());
    if frac != 0 {
        out.push(b'.');
        out.push(b'0' + (frac / 10) as u8);
        if frac % 10 != 0 {
            out.push(b'0' + (frac % 10) as u8);
        }
    }
}

fn yes_no(b: bool) -> &'static [u8] {
    if b {
        b"Yes"
    } else {
        b"No"
    }
}

fn push_csv_row(out: &mut Vec<u8>, row: u64, seed: u64, c: &SynthCustomer) {
    customer_id(row, seed, out);
    out.push(b',');
    out.extend_from_slice(if c.male { b"Male" } else { b"Female" });
    out.extend_from_slice(if c.senior { b",1," } else { b",0," });
    out.extend_from_slice(yes_no(c.partner));
    out.push(b',');
    out.extend_from_slice(yes_no(c.dependents));
    out.push(b',');
    out.extend_from_slice(c.tenure.to_string().as_bytes());
    out.push(b',');
    out.extend_from_slice(yes_no(c.phone));
    out.push(b',');
    out.extend_from_slice(c.multiple_lines_text().as_bytes());
    out.push(b',');
    out.extend_from_slice(INTERNET[c.internet].as_bytes());
    for k in 0..6 {
        out.push(b',');
        out.extend_from_slice(c.addon_text(k).as_bytes());
    }
    out.push(b',');
    out.extend_from_slice(CONTRACTS[c.contract].as_bytes());
    out.push(b',');
    out.extend_from_slice(yes_no(c.paperless));
    out.push(b',');
    out.extend_from_slice(PAYMENTS[c.payment].as_bytes());
    out.push(b',');
    push_money(out, c.monthly_cents);
    out.push(b',');
    match c.total_cents {
        Some(t) => push_money(out, t),
        None => out.push(b' '),
    }
    out.push(b',');
    out.extend_from_slice(yes_no(c.churn));
    out.push(b'\n');
}

const CHUNK_ROWS: u64 = 32_768;

/// Generates chunk `index` (rows `index * CHUNK_ROWS ..`) as CSV bytes.
fn csv_chunk(seed: u64, index: u64, rows: u64, out: &mut Vec<u8>) -> u64 {
    let mut rng = Rng::stream(seed, index);
    let first = index * CHUNK_ROWS;
    let mut churners = 0;
    for r in first..(first + CHUNK_ROWS).min(rows) {
        let c = SynthCustomer::draw(&mut rng);
        churners += c.churn as u64;
        push_csv_row(out, r, seed, &c);
    }
    churners
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SynthSummary {
    pub rows: u64,
    pub churners: u64,
    pub bytes: u64,
}

/// Writes `rows` customers to `path` (CSV or Parquet by extension). `on_progress` gets the
/// number of rows written so far.
pub fn write(
    path: &Path,
    rows: u64,
    seed: u64,
    threads: usize,
    mut on_progress: impl FnMut(u64),
) -> Result<SynthSummary, TableError> {
    match Format::of(path)? {
        Format::Csv => write_csv(path, rows, seed, threads.max(1), &mut on_progress),
        Format::Parquet => write_parquet(path, rows, seed, &mut on_progress),
    }
}

fn write_csv(
    path: &Path,
    rows: u64,
    seed: u64,
    threads: usize,
    on_progress: &mut dyn FnMut(u64),
) -> Result<SynthSummary, TableError> {
    let io = |source| TableError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(io)?);
    let mut header = COLUMNS.join(",").into_bytes();
    header.push(b'\n');
    file.write_all(&header).map_err(io)?;
    let chunks = rows.div_ceil(CHUNK_ROWS);
    let mut bytes = header.len() as u64;
    let mut churners = 0u64;
    // Workers make chunks w, w+T, w+2T, ...; the writer takes them back in order. Each channel
    // holds at most two chunks, so memory stays bounded.
    std::thread::scope(|scope| -> Result<(), TableError> {
        let mut receivers = Vec::new();
        for w in 0..threads as u64 {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, u64)>(2);
            receivers.push(rx);
            scope.spawn(move || {
                let mut index = w;
                while index < chunks {
                    let mut buf = Vec::with_capacity((CHUNK_ROWS * 150) as usize);
                    let churners = csv_chunk(seed, index, rows, &mut buf);
                    if tx.send((buf, churners)).is_err() {
                        return;
                    }
                    index += threads as u64;
                }
            });
        }
        let mut written = 0u64;
        for index in 0..chunks {
            let (buf, chunk_churners) =
                receivers[(index % threads as u64) as usize].recv().expect("a synth worker stopped early");
            churners += chunk_churners;
            file.write_all(&buf).map_err(io)?;
            bytes += buf.len() as u64;
            written = (written + CHUNK_ROWS).min(rows);
            on_progress(written);
        }
        Ok(())
    })?;
    file.flush().map_err(io)?;
    Ok(SynthSummary { rows, churners, bytes })
}

fn write_parquet(
    path: &Path,
    rows: u64,
    seed: u64,
    on_progress: &mut dyn FnMut(u64),
) -> Result<SynthSummary, TableError> {
    let columns: Vec<(String, ColumnType)> = COLUMNS
        .iter()
        .map(|c| {
            let t = match *c {
                "SeniorCitizen" | "tenure" => ColumnType::Int,
                "MonthlyCharges" | "TotalCharges" => ColumnType::Float,
                _ => ColumnType::Text,
            };
            (c.to_string(), t)
        })
        .collect();
    let mut w = TableWriter::create(path, &columns)?;
    let mut churners = 0;
    let mut id = Vec::with_capacity(10);
    for index in 0..rows.div_ceil(CHUNK_ROWS) {
        let mut rng = Rng::stream(seed, index);
        let first = index * CHUNK_ROWS;
        for r in first..(first + CHUNK_ROWS).min(rows) {
            let c = SynthCustomer::draw(&mut rng);
            id.clear();
            customer_id(r, seed, &mut id);
            let id_text = std::str::from_utf8(&id).expect("ids are ASCII");
            churners += c.churn as u64;
            let yn = |b: bool| if b { "Yes" } else { "No" };
            let cells = [
                Cell::Text(id_text),
                Cell::Text(if c.male { "Male" } else { "Female" }),
                Cell::Int(c.senior as i64),
                Cell::Text(yn(c.partner)),
                Cell::Text(yn(c.dependents)),
                Cell::Int(c.tenure as i64),
                Cell::Text(yn(c.phone)),
                Cell::Text(c.multiple_lines_text()),
                Cell::Text(INTERNET[c.internet]),
                Cell::Text(c.addon_text(0)),
                Cell::Text(c.addon_text(1)),
                Cell::Text(c.addon_text(2)),
                Cell::Text(c.addon_text(3)),
                Cell::Text(c.addon_text(4)),
                Cell::Text(c.addon_text(5)),
                Cell::Text(CONTRACTS[c.contract]),
                Cell::Text(yn(c.paperless)),
                Cell::Text(PAYMENTS[c.payment]),
                Cell::Float(c.monthly_cents as f64 / 100.0),
                c.total_cents.map(|t| Cell::Float(t as f64 / 100.0)).unwrap_or(Cell::Null),
                Cell::Text(yn(c.churn)),
            ];
            w.write_row(&cells)?;
        }
        on_progress(((index + 1) * CHUNK_ROWS).min(rows));
    }
    w.finish()?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(SynthSummary { rows, churners, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in 0..200_000 {
            let mut id = Vec::new();
            customer_id(r, 42, &mut id);
            let s = String::from_utf8(id).unwrap();
            assert_eq!(s.len(), 10);
            assert!(s[..4].bytes().all(|b| b.is_ascii_digit()) && &s[4..5] == "-");
            assert!(s[5..].bytes().all(|b| b.is_ascii_uppercase()));
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn money_prints_like_the_ibm_file() {
        let f = |c| {
            let mut v = Vec::new();
            push_money(&mut v, c);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(f(2985), "29.85");
        assert_eq!(f(82050), "820.5");
        assert_eq!(f(8400), "84");
        assert_eq!(f(5), "0.05");
    }

    #[test]
    fn services_are_coherent() {
        let mut rng = Rng::new(3);
        for _ in 0..20_000 {
            let c = SynthCustomer::draw(&mut rng);
            if c.internet == 2 {
                assert!(c.addons.iter().all(|a| !a));
            }
            if !c.phone {
                assert!(!c.multiple_lines && c.internet == 0);
            }
            assert_eq!(c.total_cents.is_none(), c.tenure == 0);
            assert!((1825..=11875).contains(&c.monthly_cents));
        }
    }
}
