//! Parquet cells: Arrow arrays read as raw values (feature `parquet`).

use crate::schema::Raw;
use arrow_array::{cast::AsArray, Array};
use arrow_schema::DataType;

pub enum ArrowColumn<'a> {
    Utf8(&'a arrow_array::StringArray),
    LargeUtf8(&'a arrow_array::LargeStringArray),
    Utf8View(&'a arrow_array::StringViewArray),
    Int64(&'a arrow_array::Int64Array),
    Int32(&'a arrow_array::Int32Array),
    Int16(&'a arrow_array::Int16Array),
    Int8(&'a arrow_array::Int8Array),
    UInt8(&'a arrow_array::UInt8Array),
    Float64(&'a arrow_array::Float64Array),
    Float32(&'a arrow_array::Float32Array),
    Boolean(&'a arrow_array::BooleanArray),
    Dictionary(Box<ArrowColumn<'a>>, Vec<Option<usize>>),
    /// A date or timestamp column, as the cells' dates (UTC), decoded once per batch.
    Dates(Vec<Raw<'static>>),
    Unsupported(&'a dyn Array),
}

impl<'a> ArrowColumn<'a> {
    pub(super) fn of(a: &'a dyn Array) -> ArrowColumn<'a> {
        use arrow_array::types::*;
        match a.data_type() {
            DataType::Utf8 => ArrowColumn::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => ArrowColumn::LargeUtf8(a.as_string::<i64>()),
            DataType::Utf8View => ArrowColumn::Utf8View(a.as_string_view()),
            DataType::Int64 => ArrowColumn::Int64(a.as_primitive::<Int64Type>()),
            DataType::Int32 => ArrowColumn::Int32(a.as_primitive::<Int32Type>()),
            DataType::Int16 => ArrowColumn::Int16(a.as_primitive::<Int16Type>()),
            DataType::Int8 => ArrowColumn::Int8(a.as_primitive::<Int8Type>()),
            DataType::UInt8 => ArrowColumn::UInt8(a.as_primitive::<UInt8Type>()),
            DataType::Float64 => ArrowColumn::Float64(a.as_primitive::<Float64Type>()),
            DataType::Float32 => ArrowColumn::Float32(a.as_primitive::<Float32Type>()),
            DataType::Boolean => ArrowColumn::Boolean(a.as_boolean()),
            DataType::Dictionary(key, _) if key.as_ref() == &DataType::Int32 => {
                let d = a.as_dictionary::<Int32Type>();
                let keys = (0..d.len()).map(|i| d.is_valid(i).then(|| d.keys().value(i) as usize)).collect();
                ArrowColumn::Dictionary(Box::new(ArrowColumn::of(d.values().as_ref())), keys)
            }
            DataType::Date32 => dates(a.as_primitive::<Date32Type>(), |v| v as i64),
            DataType::Date64 => dates(a.as_primitive::<Date64Type>(), |v| v.div_euclid(86_400_000)),
            DataType::Timestamp(unit, tz) => {
                use arrow_schema::TimeUnit;
                // Days of the stored instant as the column's zone reads it: the date a person
                // sees in pandas and writes to a CSV export, which the text path reads.
                let zone = Zone::of(tz.as_deref());
                let day = move |v: i64, per_second: i64| zone.day(v.div_euclid(per_second));
                match unit {
                    TimeUnit::Second => dates(a.as_primitive::<TimestampSecondType>(), move |v| day(v, 1)),
                    TimeUnit::Millisecond => {
                        dates(a.as_primitive::<TimestampMillisecondType>(), move |v| day(v, 1_000))
                    }
                    TimeUnit::Microsecond => {
                        dates(a.as_primitive::<TimestampMicrosecondType>(), move |v| day(v, 1_000_000))
                    }
                    TimeUnit::Nanosecond => {
                        dates(a.as_primitive::<TimestampNanosecondType>(), move |v| day(v, 1_000_000_000))
                    }
                }
            }
            _ => ArrowColumn::Unsupported(a),
        }
    }

    #[inline]
    pub(super) fn get(&self, i: usize) -> Raw<'_> {
        macro_rules! cell {
            ($arr:expr, $conv:expr) => {
                if $arr.is_null(i) {
                    Raw::Null
                } else {
                    $conv($arr.value(i))
                }
            };
        }
        match self {
            ArrowColumn::Utf8(a) => cell!(a, Raw::Text),
            ArrowColumn::LargeUtf8(a) => cell!(a, Raw::Text),
            ArrowColumn::Utf8View(a) => cell!(a, Raw::Text),
            ArrowColumn::Int64(a) => cell!(a, Raw::Integer),
            ArrowColumn::Int32(a) => cell!(a, |v: i32| Raw::Integer(v as i64)),
            ArrowColumn::Int16(a) => cell!(a, |v: i16| Raw::Integer(v as i64)),
            ArrowColumn::Int8(a) => cell!(a, |v: i8| Raw::Integer(v as i64)),
            ArrowColumn::UInt8(a) => cell!(a, |v: u8| Raw::Integer(v as i64)),
            ArrowColumn::Float64(a) => cell!(a, Raw::Number),
            ArrowColumn::Float32(a) => cell!(a, |v: f32| Raw::Number(v as f64)),
            ArrowColumn::Boolean(a) => cell!(a, Raw::Bool),
            ArrowColumn::Dates(cells) => cells[i],
            ArrowColumn::Dictionary(values, keys) => match keys[i] {
                Some(k) => values.get(k),
                None => Raw::Null,
            },
            ArrowColumn::Unsupported(a) => {
                if a.is_null(i) {
                    Raw::Null
                } else {
                    Raw::Composite
                }
            }
        }
    }
}

/// The time zone of a timestamp column. Without one the stored value is a wall time (pandas'
/// naive timestamps); with one it is a UTC instant, read in that zone: a fixed offset
/// (`+01:00`, `UTC`) or a zone name looked up in the system's zoneinfo (`Europe/Paris`). A name
/// the system does not know is read as UTC.
#[derive(Clone)]
enum Zone {
    Fixed(i64),
    Named(jiff::tz::TimeZone),
}

impl Zone {
    fn of(tz: Option<&str>) -> Zone {
        let Some(name) = tz.map(str::trim) else { return Zone::Fixed(0) };
        if let Some(seconds) = fixed_offset(name) {
            return Zone::Fixed(seconds);
        }
        jiff::tz::TimeZone::get(name).map(Zone::Named).unwrap_or(Zone::Fixed(0))
    }

    /// Days since 1970-01-01 of the local date at `seconds` since the epoch.
    fn day(&self, seconds: i64) -> i64 {
        let offset = match self {
            Zone::Fixed(o) => *o,
            Zone::Named(tz) => {
                jiff::Timestamp::from_second(seconds).map(|t| tz.to_offset(t).seconds() as i64).unwrap_or(0)
            }
        };
        seconds.saturating_add(offset).div_euclid(86_400)
    }
}

/// `UTC`, `Z`, `GMT`, `Etc/UTC` or `+HH:MM` / `-HHMM` / `+HH`, in seconds east of UTC.
fn fixed_offset(name: &str) -> Option<i64> {
    if ["UTC", "Z", "GMT", "Etc/UTC", "Etc/GMT", "utc"].contains(&name) {
        return Some(0);
    }
    let (sign, rest) = match name.as_bytes().first()? {
        b'+' => (1, &name[1..]),
        b'-' => (-1, &name[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
    Some(sign * (hours * 3600 + minutes * 60))
}

/// The cells of a date or timestamp array as dates: `days` turns a stored value into days since
/// 1970-01-01 (for timestamps, in the column's zone). A date outside the calendar (years -9999 to 9999) is a value
/// of the wrong kind, reported as such, not a missing one.
fn dates<'a, T: arrow_array::ArrowPrimitiveType>(
    a: &arrow_array::PrimitiveArray<T>,
    days: impl Fn(T::Native) -> i64,
) -> ArrowColumn<'a> {
    let epoch = jiff::civil::date(1970, 1, 1);
    let cells = (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                return Raw::Null;
            }
            let d = days(a.value(i));
            match i32::try_from(d).ok().and_then(|d| epoch.checked_add(jiff::Span::new().try_days(d).ok()?).ok()) {
                Some(date) => Raw::Date(date),
                None => Raw::Composite,
            }
        })
        .collect();
    ArrowColumn::Dates(cells)
}

const PARQUET_ROWS_PER_BATCH: usize = 65_536;

use super::writer::{Cell, ColumnType};
use super::TableError;
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field as ArrowField, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

enum Builder {
    Text(StringBuilder),
    Float(Float64Builder),
    Int(Int64Builder),
}

/// A Parquet file written in row groups of `PARQUET_ROWS_PER_BATCH` rows.
pub struct ParquetSink {
    writer: ArrowWriter<File>,
    builders: Vec<Builder>,
    schema: Arc<ArrowSchema>,
    rows: usize,
}

fn err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> TableError + '_ {
    move |e| TableError::Parquet { path: path.to_path_buf(), message: e.to_string() }
}

impl ParquetSink {
    pub fn new(file: File, columns: &[(String, ColumnType)], path: &Path) -> Result<ParquetSink, TableError> {
        let fields: Vec<ArrowField> = columns
            .iter()
            .map(|(n, t)| {
                let dt = match t {
                    ColumnType::Text => DataType::Utf8,
                    ColumnType::Float => DataType::Float64,
                    ColumnType::Int => DataType::Int64,
                };
                ArrowField::new(n, dt, true)
            })
            .collect();
        let schema = Arc::new(ArrowSchema::new(fields));
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(err(path))?;
        let builders = columns
            .iter()
            .map(|(_, t)| match t {
                ColumnType::Text => Builder::Text(StringBuilder::new()),
                ColumnType::Float => Builder::Float(Float64Builder::new()),
                ColumnType::Int => Builder::Int(Int64Builder::new()),
            })
            .collect();
        Ok(ParquetSink { writer, builders, schema, rows: 0 })
    }

    pub fn write_row(&mut self, cells: &[Cell], path: &Path) -> Result<(), TableError> {
        for (b, c) in self.builders.iter_mut().zip(cells) {
            match (b, c) {
                (Builder::Text(b), Cell::Text(t)) => b.append_value(t),
                (Builder::Text(b), Cell::Pair(x, y)) => b.append_value(format!("{x} = {y}")),
                (Builder::Text(b), Cell::Float(v)) => b.append_value(v.to_string()),
                (Builder::Text(b), Cell::Int(v)) => b.append_value(v.to_string()),
                (Builder::Float(b), Cell::Float(v)) => b.append_value(*v),
                (Builder::Float(b), Cell::Float32(v)) => b.append_value(*v as f64),
                (Builder::Text(b), Cell::Float32(v)) => b.append_value(v.to_string()),
                (Builder::Float(b), Cell::Int(v)) => b.append_value(*v as f64),
                (Builder::Int(b), Cell::Int(v)) => b.append_value(*v),
                (Builder::Int(b), Cell::Float(v)) => b.append_value(*v as i64),
                (Builder::Text(b), _) => b.append_null(),
                (Builder::Float(b), _) => b.append_null(),
                (Builder::Int(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
        if self.rows >= PARQUET_ROWS_PER_BATCH {
            self.flush(path)?;
        }
        Ok(())
    }

    fn flush(&mut self, path: &Path) -> Result<(), TableError> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| match b {
                Builder::Text(b) => Arc::new(b.finish()) as ArrayRef,
                Builder::Float(b) => Arc::new(b.finish()) as ArrayRef,
                Builder::Int(b) => Arc::new(b.finish()) as ArrayRef,
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| TableError::Parquet { path: path.to_path_buf(), message: e.to_string() })?;
        self.writer.write(&batch).map_err(err(path))?;
        self.rows = 0;
        Ok(())
    }

    pub fn finish(mut self, path: &Path) -> Result<(), TableError> {
        self.flush(path)?;
        let file = self.writer.into_inner().map_err(err(path))?;
        file.sync_all().map_err(|source| TableError::Io { path: path.to_path_buf(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, Date64Array, TimestampMicrosecondArray, TimestampSecondArray};

    fn date_of(col: &ArrowColumn, i: usize) -> Option<String> {
        match col.get(i) {
            Raw::Date(d) => Some(d.to_string()),
            Raw::Null => None,
            other => panic!("row {i}: {other:?}"),
        }
    }

    #[test]
    fn date_and_timestamp_cells_are_dates() {
        let d32 = Date32Array::from(vec![Some(0), None, Some(19_723), Some(-1)]);
        let col = ArrowColumn::of(&d32);
        let got: Vec<_> = (0..4).map(|i| date_of(&col, i)).collect();
        assert_eq!(got, [Some("1970-01-01".into()), None, Some("2024-01-01".into()), Some("1969-12-31".into())]);

        let d64 = Date64Array::from(vec![Some(19_723 * 86_400_000 + 5)]);
        assert_eq!(date_of(&ArrowColumn::of(&d64), 0).as_deref(), Some("2024-01-01"));

        // A naive timestamp is its written date, a microsecond before midnight included.
        let us = TimestampMicrosecondArray::from(vec![Some(19_723 * 86_400_000_000 - 1), None]);
        let col = ArrowColumn::of(&us);
        assert_eq!(date_of(&col, 0).as_deref(), Some("2023-12-31"));
        assert_eq!(date_of(&col, 1), None);
    }

    /// A zoned timestamp is the date in its zone, as pandas shows it and a CSV export writes it
    /// (`2024-01-01 00:30+01:00` is 2023-12-31 23:30 UTC).
    #[test]
    fn a_zoned_timestamp_is_its_local_date() {
        let utc = 19_723 * 86_400 - 30 * 60;
        for (zone, want) in
            [("+01:00", "2024-01-01"), ("+0100", "2024-01-01"), ("UTC", "2023-12-31"), ("-05", "2023-12-31")]
        {
            let s = TimestampSecondArray::from(vec![Some(utc)]).with_timezone(zone);
            assert_eq!(date_of(&ArrowColumn::of(&s), 0).as_deref(), Some(want), "{zone}");
        }
        assert_eq!(fixed_offset("+05:30"), Some(19_800));
        assert_eq!(fixed_offset("Europe/Paris"), None);
        // A zone name is looked up in the system's zoneinfo (winter in Paris: UTC+1, so already
        // Jan 1); where the system has none, the instant is read as UTC.
        let paris = TimestampSecondArray::from(vec![Some(utc)]).with_timezone("Europe/Paris");
        let known = std::path::Path::new("/usr/share/zoneinfo/Europe/Paris").exists();
        let want = if known { "2024-01-01" } else { "2023-12-31" };
        assert_eq!(date_of(&ArrowColumn::of(&paris), 0).as_deref(), Some(want), "zoneinfo present: {known}");
        let unknown = TimestampSecondArray::from(vec![Some(utc)]).with_timezone("Nowhere/Atlantis");
        assert_eq!(date_of(&ArrowColumn::of(&unknown), 0).as_deref(), Some("2023-12-31"));
    }

    #[test]
    fn a_date_outside_the_calendar_is_not_a_missing_value() {
        let far = TimestampSecondArray::from(vec![Some(i64::MAX / 2)]);
        assert!(matches!(ArrowColumn::of(&far).get(0), Raw::Composite));
    }
}
