//! The same customers through every source: identical values, ids and problems.

use super::body;
use super::mlflow::{self, Carried, InvocationError, Records};
use super::*;
#[cfg(feature = "parquet")]
use crate::table::writer::{Cell, ColumnType, TableWriter};
use crate::table::{RawBatch, TableReader};

const HEADER: &str = "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn";
const GOOD: &str = "7590-VHVEG,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,Electronic check,29.85, ,No";
const BAD: &str = "5575-GNVDE,Male,0,No,No,abc,Yes,No,DSL,Yes,No,Yes,No,No,No,Weekly,No,Mailed check,56.95,1889.5,No";

fn gate() -> Gate {
    Gate::new(Schema::telco())
}

fn header() -> Vec<String> {
    HEADER.split(',').map(str::to_string).collect()
}

fn cells(line: &str) -> Vec<String> {
    line.split(',').map(str::to_string).collect()
}

/// Rows and problems of a table read through the gate, as batch scoring reads it.
fn through_table(mut reader: TableReader) -> (Vec<Row>, Vec<Problem>) {
    let g = gate();
    let cols = g.columns(reader.columns(), false).unwrap();
    let mut batch = RawBatch::new_csv();
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    while reader.read_batch(100, &mut batch).unwrap() {
        let c = batch.cells();
        for r in 0..batch.len() {
            let mut values = vec![0.0; g.names().len()];
            let mut id = String::new();
            let loc = batch.location(r);
            if g.row(&cols, &c, r, loc, &mut values, &mut id, &mut problems) {
                rows.push(Row { id: Some(id), values, location: Some(loc) });
            }
        }
    }
    (rows, problems)
}

fn json_record(line: &str) -> serde_json::Map<String, serde_json::Value> {
    header().into_iter().zip(cells(line)).map(|(k, v)| (k, serde_json::Value::String(v))).collect()
}

/// Ids with value bits (NaN as NaN), and (field, message) per problem.
type Summary = (Vec<(Option<String>, Vec<u64>)>, Vec<(String, String)>);

/// What must agree: values, ids, and each problem's field and message.
fn summary(rows: &[Row], problems: &[Problem]) -> Summary {
    let r = rows.iter().map(|r| (r.id.clone(), r.values.iter().map(|v| v.to_bits()).collect())).collect();
    let mut p: Vec<(String, String)> = problems.iter().map(|p| (p.field.clone(), p.message())).collect();
    p.sort();
    (r, p)
}

#[test]
fn every_source_gives_the_same_values_ids_and_problems() {
    let dir = tempfile::tempdir().unwrap();
    let g = gate();
    let text = format!("{HEADER}\n{GOOD}\n{BAD}\n");
    let mut results = Vec::new();

    // A CSV file, with LF endings, and with CRLF endings, a byte-order mark and no final newline.
    let lf = dir.path().join("lf.csv");
    std::fs::write(&lf, &text).unwrap();
    results.push(("csv file", through_table(TableReader::open_unhashed(&lf).unwrap())));
    let crlf = dir.path().join("crlf.csv");
    std::fs::write(&crlf, format!("\u{feff}{}", text.trim_end().replace('\n', "\r\n"))).unwrap();
    results.push(("crlf csv file", through_table(TableReader::open_unhashed(&crlf).unwrap())));

    // A Parquet file, all text columns.
    #[cfg(feature = "parquet")]
    {
        let pq = dir.path().join("t.parquet");
        let cols: Vec<(String, ColumnType)> = header().into_iter().map(|h| (h, ColumnType::Text)).collect();
        let mut w = TableWriter::create(&pq, &cols).unwrap();
        for line in [GOOD, BAD] {
            let c = cells(line);
            w.write_row(&c.iter().map(|v| Cell::Text(v)).collect::<Vec<_>>()).unwrap();
        }
        w.finish().unwrap();
        results.push(("parquet file", through_table(TableReader::open_unhashed(&pq).unwrap())));
    }

    // A CSV body.
    let (rows, problems) = body::csv(&g, bytes::Bytes::from(text.clone()), 10).unwrap();
    results.push(("csv body", (rows, problems)));

    // JSON objects, one at a time (an array is refused whole when one customer is bad).
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for line in [GOOD, BAD] {
        let json = serde_json::to_vec(&json_record(line)).unwrap();
        match body::json(&g, &json, 10) {
            Ok(c) => rows.extend(c.rows),
            Err(body::BodyError::Invalid(p)) => problems.extend(p),
            Err(e) => panic!("{e:?}"),
        }
    }
    results.push(("json objects", (rows, problems)));

    // MLflow's shapes.
    let columns = Gate::new(Schema::for_columns(&["x".to_string()]));
    let invocation = |records: Records| match mlflow::rows(Some(&g), &columns, records, 10) {
        Ok((carried, rows)) => {
            assert_eq!(carried, Carried::Customers);
            (rows, Vec::new())
        }
        Err(InvocationError::Invalid(p)) => (Vec::new(), p),
        Err(e) => panic!("{e:?}"),
    };
    for line in [GOOD, BAD] {
        let split = serde_json::json!({"dataframe_split": {"columns": header(), "data": [cells(line)]}});
        let (r, p) = invocation(Records::Json(mlflow::json_records(split, &[]).unwrap()));
        let csv = invocation(Records::Csv(bytes::Bytes::from(format!("{HEADER}\n{line}\n"))));
        results.push(("mlflow dataframe_split", (r, p)));
        results.push(("mlflow csv", csv));
    }

    let reference = summary(&results[0].1 .0, &results[0].1 .1);
    assert_eq!(reference.0.len(), 1, "one good row");
    assert_eq!(
        reference.1,
        vec![
            (
                "Contract".to_string(),
                "`Contract`: expected one of [\"Month-to-month\", \"One year\", \"Two year\"], found \"Weekly\""
                    .to_string()
            ),
            ("tenure".to_string(), "`tenure`: expected a whole number from 0 to 600, found \"abc\"".to_string()),
        ]
    );
    let mut merged: std::collections::BTreeMap<&str, (Vec<Row>, Vec<Problem>)> = Default::default();
    for (name, (rows, problems)) in results {
        let e = merged.entry(name).or_default();
        e.0.extend(rows);
        e.1.extend(problems);
    }
    for (name, (rows, problems)) in &merged {
        assert_eq!(&summary(rows, problems), &reference, "{name} differs from the csv file");
    }
}

#[test]
fn lines_are_counted_as_an_editor_counts_them_whatever_the_endings() {
    let dir = tempfile::tempdir().unwrap();
    // Line 3 holds a quoted field with an embedded line break; the bad tenure is on line 5.
    let quoted = GOOD.replace("7590-VHVEG", "\"7590-\nVHVEG\"");
    for (name, ending, bom, final_newline) in [
        ("lf", "\n", "", true),
        ("crlf", "\r\n", "", true),
        ("crlf-bom-no-final", "\r\n", "\u{feff}", false),
        ("lf-no-final", "\n", "", false),
        ("cr", "\r", "", true),
    ] {
        let lines = [HEADER, GOOD, &quoted, BAD];
        let mut text = format!("{bom}{}", lines.join(ending));
        if final_newline {
            text.push_str(ending);
        }
        let p = dir.path().join(format!("{name}.csv"));
        std::fs::write(&p, text.replace('\n', ending).replace("\r\r", "\r")).unwrap();
        let (_, problems) = through_table(TableReader::open_unhashed(&p).unwrap());
        let lines: Vec<u64> = problems.iter().map(|p| p.location.unwrap().number()).collect();
        assert_eq!(lines, vec![5, 5], "{name}: {problems:?}");
        assert!(problems[0].to_string().starts_with("line 5, column `tenure`"), "{}", problems[0]);
    }
}

#[test]
fn a_line_with_the_wrong_number_of_fields_is_a_problem_of_that_line() {
    let text = format!("{HEADER}\n{GOOD}\n7590-X,Female\n{GOOD}\n")
        .replace("7590-VHVEG,Female,0,Yes,No,1", "7590-A,Female,0,Yes,No,1");
    let (rows, problems) = body::csv(&gate(), bytes::Bytes::from(text), 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].to_string(), "line 3: 2 fields where the header has 21");
}

#[test]
fn missing_columns_are_named_with_a_suggestion_for_near_misses() {
    let mut h = header();
    h[5] = "Tenure".into();
    h[15] = "Contarct".into();
    let err = gate().columns(&h, false).unwrap_err();
    assert_eq!(err.missing, vec!["tenure", "Contract"]);
    assert_eq!(
        err.describe(),
        "missing columns `tenure` (did you mean `Tenure`?), `Contract` (did you mean `Contarct`?)"
    );
}

#[test]
fn ids_are_kept_whole_up_to_the_limit_and_refused_beyond() {
    let g = gate();
    let mut problems = Vec::new();
    let mut out = String::new();
    let long = "x".repeat(MAX_ID_BYTES);
    assert!(g.push_id(Raw::Text(&long), None, &mut out, &mut problems));
    assert_eq!(out.len(), MAX_ID_BYTES);
    out.clear();
    let longer = "x".repeat(MAX_ID_BYTES + 1);
    assert!(!g.push_id(Raw::Text(&longer), Some(Location::Line(2)), &mut out, &mut problems));
    assert!(out.is_empty());
    assert_eq!(problems[0].error.code, FieldErrorCode::IdTooLong);
}

#[test]
fn keyed_rows_refuse_or_ignore_unknown_keys_and_report_duplicates_and_missing_fields() {
    let g = gate();
    let mut row = g.keyed(None, Unknown::Refuse);
    let role = row.key("Tenure");
    row.put("Tenure", role, Raw::Integer(3));
    row.put("gender", row.key("gender"), Raw::Text("Male"));
    row.put("gender", row.key("gender"), Raw::Text("Male"));
    let problems = row.finish().unwrap_err();
    let messages: Vec<String> = problems.iter().map(Problem::message).collect();
    assert!(
        messages.contains(&"`Tenure`: not a field of this model (did you mean `tenure`?)".to_string()),
        "{messages:?}"
    );
    assert!(messages.contains(&"`gender`: given more than once".to_string()), "{messages:?}");
    assert!(messages.contains(&"`tenure`: required field is missing".to_string()), "{messages:?}");
    let mut row = g.keyed(None, Unknown::Ignore);
    row.put("extra", row.key("extra"), Raw::Integer(3));
    assert!(!row.finish().unwrap_err().iter().any(|p| p.field == "extra"));
}

/// A target's `drop` reads the cell as its label is read: numbers written as floats, and a blank
/// cell or a missing token as `""`.
#[test]
fn dropped_target_values_are_read_as_labels_are() {
    let schema = crate::schema::Schema::from_toml(
        "name = \"t\"\nmissing = [\"NA\"]\n[target]\ncolumn = \"y\"\npositive = \"1\"\nnegative = \"0\"\ndrop = [\"2\", \"\"]\n\
         [[field]]\nname = \"a\"\nkind = \"numeric\"\n",
        "test",
    )
    .unwrap();
    let gate = Gate::new(schema);
    use crate::schema::Raw;
    assert_eq!(gate.dropped(Raw::Number(2.0)).as_deref(), Some("2"));
    assert_eq!(gate.dropped(Raw::Integer(2)).as_deref(), Some("2"));
    assert_eq!(gate.dropped(Raw::Text(" NA ")).as_deref(), Some(""));
    assert_eq!(gate.dropped(Raw::Text("")).as_deref(), Some(""));
    assert_eq!(gate.dropped(Raw::Null).as_deref(), Some(""));
    assert_eq!(gate.dropped(Raw::Number(1.0)), None);
    assert_eq!(gate.label(Raw::Number(1.0)).unwrap(), 1);
}
