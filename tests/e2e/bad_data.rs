//! Every bad-data case gets an error naming the file, the line and the column; never a panic.

use crate::support::*;
use std::path::PathBuf;

const HEADER: &str = "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn";
const ROW1: &str = "7590-VHVEG,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,Electronic check,29.85,29.85,No";
const ROW2: &str =
    "5575-GNVDE,Male,0,No,No,34,Yes,No,DSL,Yes,No,Yes,No,No,No,One year,No,Mailed check,56.95,1889.5,Yes";

fn file(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `churn train` on the given CSV body must fail with all `needles` in its message.
fn refused(body: &str, needles: &[&str]) {
    let d = tmp();
    let p = file(d.path(), "bad.csv", body);
    let (ok, _, stderr) = run(&["train", "--data", s(&p), "--output", s(&d.path().join("m")), "--trials", "0"]);
    assert!(!ok, "bad data was accepted:\n{body}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("bad.csv"), "the file is named: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "expected {n:?} in:\n{stderr}");
    }
}

fn with(row: &str, column: usize, value: &str) -> String {
    let mut cells: Vec<&str> = row.split(',').collect();
    cells[column] = value;
    cells.join(",")
}

#[test]
fn unknown_category() {
    refused(
        &format!("{HEADER}\n{ROW1}\n{}\n", with(ROW2, 15, "Weekly")),
        &["line 3", "`Contract`", "\"Weekly\"", "Month-to-month"],
    );
}

#[test]
fn wrong_case_category_gets_a_hint() {
    refused(
        &format!("{HEADER}\n{}\n{ROW2}\n", with(ROW1, 15, "month-to-month")),
        &["line 2", "did you mean \"Month-to-month\""],
    );
}

#[test]
fn non_number() {
    refused(&format!("{HEADER}\n{ROW1}\n{}\n", with(ROW2, 5, "abc")), &["line 3", "`tenure`", "\"abc\""]);
}

#[test]
fn out_of_range_number() {
    refused(&format!("{HEADER}\n{}\n{ROW2}\n", with(ROW1, 2, "7")), &["line 2", "`SeniorCitizen`", "from 0 to 1"]);
}

#[test]
fn missing_column() {
    let header = HEADER.replace(",tenure", "");
    let strip = |r: &str| {
        let mut c: Vec<&str> = r.split(',').collect();
        c.remove(5);
        c.join(",")
    };
    refused(&format!("{header}\n{}\n{}\n", strip(ROW1), strip(ROW2)), &["missing column `tenure`"]);
}

#[test]
fn missing_target_column() {
    let header = HEADER.replace(",Churn", "");
    let strip = |r: &str| r.rsplit_once(',').unwrap().0.to_string();
    refused(&format!("{header}\n{}\n{}\n", strip(ROW1), strip(ROW2)), &["missing column `Churn`"]);
}

#[test]
fn empty_file_and_header_only() {
    refused("", &["empty"]);
    refused(&format!("{HEADER}\n"), &["empty", "no data rows"]);
}

#[test]
fn label_outside_its_two_values() {
    refused(
        &format!("{HEADER}\n{ROW1}\n{}\n", with(ROW2, 20, "Maybe")),
        &["line 3", "`Churn`", "\"Yes\" or \"No\"", "\"Maybe\""],
    );
}

#[test]
fn duplicate_ids() {
    refused(
        &format!("{HEADER}\n{ROW1}\n{ROW2}\n{}\n", with(ROW2, 0, "7590-VHVEG")),
        &["duplicate customer id \"7590-VHVEG\"", "line 2", "line 4"],
    );
}

#[test]
fn wrong_number_of_fields() {
    refused(&format!("{HEADER}\n{ROW1}\n{ROW2},extra\n"), &["line 3", "22 fields where the header has 21"]);
}

#[test]
fn blank_required_value() {
    refused(&format!("{HEADER}\n{}\n{ROW2}\n", with(ROW1, 16, "")), &["line 2", "`PaperlessBilling`", "required"]);
}

#[test]
fn several_errors_are_reported_together() {
    refused(
        &format!("{HEADER}\n{}\n{}\n", with(ROW1, 5, "-3"), with(ROW2, 8, "Cable")),
        &["2 invalid values", "line 2, column `tenure`", "line 3, column `InternetService`"],
    );
}

#[test]
fn unsupported_format_and_missing_file() {
    let d = tmp();
    let p = file(d.path(), "data.xlsx", "x");
    let (ok, _, err) = run(&["train", "--data", s(&p), "--output", s(&d.path().join("m"))]);
    assert!(!ok && err.contains("use a .csv or .parquet file"), "{err}");
    let (ok, _, err) = run(&["train", "--data", s(&d.path().join("nope.csv")), "--output", s(&d.path().join("m"))]);
    assert!(!ok && err.contains("nope.csv") && err.contains("No such file"), "{err}");
}

#[test]
fn a_single_class_cannot_be_trained() {
    let d = tmp();
    let rows: Vec<String> = (0..20).map(|i| with(ROW1, 0, &format!("id-{i}"))).collect();
    let p = file(d.path(), "one.csv", &format!("{HEADER}\n{}\n", rows.join("\n")));
    let (ok, _, err) = run(&["train", "--data", s(&p), "--output", s(&d.path().join("m"))]);
    assert!(!ok && err.contains("both labels"), "{err}");
}

#[test]
fn a_custom_schema_trains_another_table() {
    let d = tmp();
    let schema = file(
        d.path(),
        "plan.toml",
        "name = \"plans\"\nid = \"id\"\n[target]\ncolumn = \"left\"\npositive = \"1\"\nnegative = \"0\"\n\
         [[field]]\nname = \"months\"\nkind = \"numeric\"\nmin = 0\n\
         [[field]]\nname = \"plan\"\nkind = \"categorical\"\nvalues = [\"basic\", \"plus\", \"max\"]\n",
    );
    let mut body = String::from("id,months,plan,left\n");
    for i in 0..400 {
        let months = i % 48;
        let plan = ["basic", "plus", "max"][i % 3];
        let left = ((months < 12 && i % 5 != 0) || i % 11 == 0) as u8;
        body.push_str(&format!("c{i},{months},{plan},{left}\n"));
    }
    let data = file(d.path(), "plans.csv", &body);
    let out = d.path().join("m");
    run_ok(&[
        "train",
        "--data",
        s(&data),
        "--schema",
        s(&schema),
        "--output",
        s(&out),
        "--trials",
        "2",
        "--folds",
        "3",
    ]);
    let model = churn::bundle::open(&out).unwrap();
    assert_eq!(model.pipeline().unwrap().schema.name, "plans");
    let body_bad = body.replacen("basic", "gold", 1);
    let bad = file(d.path(), "bad.csv", &body_bad);
    let (ok, _, err) = run(&["train", "--data", s(&bad), "--schema", s(&schema), "--output", s(&out)]);
    assert!(!ok && err.contains("`plan`") && err.contains("\"gold\""), "{err}");
    let broken = file(d.path(), "broken.toml", "name = \"x\"\n[target]\ncolumn = \"y\"\npositive = \"1\"\nnegative = \"1\"\n[[field]]\nname = \"a\"\nkind = \"numeric\"\n");
    let (ok, _, err) = run(&["train", "--data", s(&data), "--schema", s(&broken), "--output", s(&out)]);
    assert!(!ok && err.contains("broken.toml") && err.contains("same positive and negative label"), "{err}");
}

/// A churn reason filled in only for customers who left, in twenty rare levels: kept by a
/// schema, training names it as leakage by its blanks, refuses the near-perfect model it makes
/// without `--allow-near-perfect`, and with the flag writes the bundle with both warnings.
#[test]
fn a_field_blank_for_every_stayer_is_named_as_leakage_and_its_perfect_model_refused() {
    let d = tmp();
    let data = synth(d.path(), 2000, 17);
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let churn = header.split(',').position(|h| h == "Churn").unwrap();
    let mut out = format!("{header},Reason\n");
    for (i, line) in lines.enumerate() {
        let left = line.split(',').nth(churn) == Some("Yes");
        out += &format!("{line},{}\n", if left { format!("reason {}", i % 20) } else { String::new() });
    }
    let leaky = d.path().join("leaky.csv");
    std::fs::write(&leaky, out).unwrap();
    let mut schema = churn::schema::Schema::telco().to_toml();
    let levels: Vec<String> = (0..20).map(|k| format!("\"reason {k}\"")).collect();
    schema += &format!(
        "\n[[field]]\nname = \"Reason\"\nkind = \"categorical\"\nvalues = [{}]\nblank = \"missing\"\n",
        levels.join(", ")
    );
    let schema_path = d.path().join("leaky.toml");
    std::fs::write(&schema_path, schema).unwrap();
    let model = d.path().join("model");
    let args = [
        "train",
        "--data",
        s(&leaky),
        "--schema",
        s(&schema_path),
        "--output",
        s(&model),
        "--trials",
        "0",
        "--no-track",
    ];
    let (ok, _, err) = run(&args);
    assert!(!ok, "a near-perfect model is refused");
    assert!(err.contains("LEAKAGE?") && err.contains("`Reason`"), "{err}");
    assert!(
        err.contains("near perfectly") && err.contains("--allow-near-perfect") && err.contains("`Reason`"),
        "{err}"
    );
    assert!(!model.join("churn/metadata.json").exists(), "no bundle was written");
    let mut with_flag = args.to_vec();
    with_flag.push("--allow-near-perfect");
    let (ok, _, err) = run(&with_flag);
    assert!(ok, "{err}");
    assert!(err.contains("SUSPICIOUSLY GOOD?"), "{err}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("churn/metadata.json")).unwrap()).unwrap();
    let kinds: Vec<&str> =
        meta["data"]["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.iter().any(|k| k.starts_with("LEAKAGE?")) && kinds.iter().any(|k| k.starts_with("SUSPICIOUSLY GOOD?")),
        "{kinds:?}"
    );
}

/// A table as a public telecom file spells it: a byte-order mark, spaces after header names and
/// a status of three values (churned, stayed, joined this quarter). `schema --infer` drafts the
/// target with the third value dropped, and training on the unedited draft leaves those rows out,
/// saying how many and that the header names were matched trimmed.
#[test]
fn a_three_valued_status_and_spaced_headers_train_from_the_unedited_draft() {
    let d = tmp();
    let data = synth(d.path(), 2000, 23);
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let churn = header.iter().position(|h| *h == "Churn").unwrap();
    let spaced: Vec<String> = header
        .iter()
        .map(|h| {
            if *h == "Churn" {
                "Customer Status ".to_string()
            } else if h.starts_with('S') {
                format!("{h}  ")
            } else {
                h.to_string()
            }
        })
        .collect();
    let mut out = format!("\u{feff}{}\n", spaced.join(","));
    let mut joined = 0;
    for (i, line) in lines.enumerate() {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        cells[churn] = if i % 10 == 3 {
            joined += 1;
            "Joined".into()
        } else if cells[churn] == "Yes" {
            "Churned".into()
        } else {
            "Stayed".into()
        };
        out += &format!("{}\n", cells.join(","));
    }
    let table = d.path().join("status.csv");
    std::fs::write(&table, out).unwrap();
    let schema = d.path().join("status.toml");
    run_ok(&["schema", "--infer", s(&table), "--target", "Customer Status", "--output", s(&schema)]);
    let drafted = std::fs::read_to_string(&schema).unwrap();
    assert!(drafted.contains("positive = \"Churned\"") && drafted.contains("drop = [\"Joined\"]"), "{drafted}");
    let model = d.path().join("model");
    let (ok, _, err) = run(&[
        "train",
        "--data",
        s(&table),
        "--schema",
        s(&schema),
        "--output",
        s(&model),
        "--trials",
        "0",
        "--no-track",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("{joined} x row left out")), "{err}");
    assert!(err.contains("header name with spaces around it"), "{err}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("churn/metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["data"]["rows"].as_u64().unwrap() as usize, 2000 - joined, "{meta}");
    // The same file scores as it is: its spaced header, its dropped rows scored like any other.
    let scored = d.path().join("scored.csv");
    run_ok(&["predict", "--model", s(&model), "--input", s(&table), "--output", s(&scored)]);
    assert_eq!(csv_column(&scored, "churn_probability").len(), 2000);
}
