//! Validated labelled customers, read by row ranges: a table held in memory ([`Dataset`]) or
//! spilled to a file as it was read ([`Spilled`]), so that training can take a table larger
//! than memory. Whoever reads them sees the same values either way.
//!
//! A spilled table keeps in memory only its labels (a byte a row). The values are written as
//! float64, one per field (exactly what validation produced; the model's float32 inputs are
//! computed from them as from a table in memory), and the ids, when the schema has an id column,
//! to a second file. Both files live in a temporary folder removed when the table is dropped.

use super::dataset::{scan, DataError, Dataset, RowSink, Scanned, Source};
use crate::schema::Schema;
use crate::table::TableError;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Rows read at a time by whoever walks a table.
pub const READ_ROWS: usize = 1 << 15;

pub trait LabelledRows: Sync {
    fn schema(&self) -> &Schema;
    fn labels(&self) -> &[u8];
    fn source(&self) -> &Source;
    /// The values of `rows` (row-major, one per schema field), borrowed or read into `buf`.
    fn read<'a>(&'a self, rows: Range<usize>, buf: &'a mut Vec<f64>) -> Result<&'a [f64], DataError>;
    /// The id of one row ("" without an id column).
    fn id(&self, row: usize) -> Result<String, DataError>;

    fn len(&self) -> usize {
        self.labels().len()
    }

    fn is_empty(&self) -> bool {
        self.labels().is_empty()
    }
}

/// The ranges of [`READ_ROWS`] rows that cover `n` rows.
pub fn ranges(n: usize) -> impl Iterator<Item = Range<usize>> {
    (0..n.div_ceil(READ_ROWS)).map(move |i| i * READ_ROWS..((i + 1) * READ_ROWS).min(n))
}

impl LabelledRows for Dataset {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn labels(&self) -> &[u8] {
        &self.labels
    }

    fn source(&self) -> &Source {
        &self.source
    }

    fn read<'a>(&'a self, rows: Range<usize>, _buf: &'a mut Vec<f64>) -> Result<&'a [f64], DataError> {
        let d = self.n_fields();
        Ok(&self.values[rows.start * d..rows.end * d])
    }

    fn id(&self, row: usize) -> Result<String, DataError> {
        Ok(self.ids.get(row).cloned().unwrap_or_default())
    }
}

/// A labelled table spilled to disk as it was validated.
pub struct Spilled {
    schema: Schema,
    labels: Vec<u8>,
    source: Source,
    values: File,
    ids: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// Writes each valid row's values to the values file and its id to the ids file.
struct Spill {
    values: BufWriter<File>,
    ids: Option<BufWriter<File>>,
    labels: Vec<u8>,
    path: PathBuf,
}

impl RowSink for Spill {
    fn push(&mut self, values: &[f64], label: u8, id: &str) -> Result<(), DataError> {
        let io = |e| DataError::Table(TableError::Io { path: self.path.clone(), source: e });
        for v in values {
            self.values.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        if let Some(ids) = &mut self.ids {
            // An id is at most MAX_ID_BYTES long: two bytes of length, then its bytes.
            ids.write_all(&(id.len() as u16).to_le_bytes()).and_then(|_| ids.write_all(id.as_bytes())).map_err(io)?;
        }
        self.labels.push(label);
        Ok(())
    }
}

impl Spilled {
    /// Reads and validates the table at `path` (see [`scan`]), spilling its rows into a new
    /// temporary folder under `dir`.
    pub fn load(path: &Path, schema: &Schema, dir: &Path) -> Result<(Spilled, Scanned), DataError> {
        let io = |e| DataError::Table(TableError::Io { path: dir.to_path_buf(), source: e });
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = tempfile::Builder::new().prefix(".churn-spill-").tempdir_in(dir).map_err(io)?;
        let values_path = tmp.path().join("values.f64");
        let ids_path = tmp.path().join("ids.bin");
        let values = BufWriter::with_capacity(1 << 20, File::create(&values_path).map_err(io)?);
        let ids = match &schema.id {
            Some(_) => Some(BufWriter::with_capacity(1 << 16, File::create(&ids_path).map_err(io)?)),
            None => None,
        };
        let mut spill = Spill { values, ids, labels: Vec::new(), path: values_path.clone() };
        let scanned = scan(path, schema, &mut spill)?;
        let Spill { values, ids, labels, .. } = spill;
        let flush = |w: BufWriter<File>| w.into_inner().map_err(|e| io(e.into_error()));
        flush(values)?;
        let ids = match ids {
            Some(w) => {
                flush(w)?;
                Some(ids_path)
            }
            None => None,
        };
        let values = File::open(&values_path).map_err(io)?;
        let spilled =
            Spilled { schema: schema.clone(), labels, source: scanned.source.clone(), values, ids, _dir: tmp };
        Ok((spilled, scanned))
    }
}

impl LabelledRows for Spilled {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn labels(&self) -> &[u8] {
        &self.labels
    }

    fn source(&self) -> &Source {
        &self.source
    }

    fn read<'a>(&'a self, rows: Range<usize>, buf: &'a mut Vec<f64>) -> Result<&'a [f64], DataError> {
        let d = self.schema.fields.len();
        let mut bytes = vec![0u8; rows.len() * d * 8];
        self.values
            .read_exact_at(&mut bytes, (rows.start * d * 8) as u64)
            .map_err(|e| DataError::Table(TableError::Io { path: PathBuf::from("the spilled table"), source: e }))?;
        buf.clear();
        buf.extend(bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("eight bytes"))));
        Ok(buf)
    }

    fn id(&self, row: usize) -> Result<String, DataError> {
        let Some(path) = &self.ids else { return Ok(String::new()) };
        let io = |e| DataError::Table(TableError::Io { path: path.clone(), source: e });
        let mut r = std::io::BufReader::new(File::open(path).map_err(io)?);
        let mut len = [0u8; 2];
        let mut id = Vec::new();
        for _ in 0..=row {
            r.read_exact(&mut len).map_err(io)?;
            id.resize(u16::from_le_bytes(len) as usize, 0);
            r.read_exact(&mut id).map_err(io)?;
        }
        Ok(String::from_utf8_lossy(&id).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spilled_table_reads_back_as_the_table_in_memory() {
        let schema = Schema::from_toml(
            "name = \"t\"\nid = \"id\"\n[target]\ncolumn = \"y\"\npositive = \"1\"\nnegative = \"0\"\n\
             [[field]]\nname = \"a\"\nkind = \"numeric\"\nblank = \"missing\"\n\
             [[field]]\nname = \"c\"\nkind = \"categorical\"\nvalues = [\"p\", \"q\"]\n",
            "test",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut text = String::from("id,a,c,y\n");
        for i in 0..(READ_ROWS + 10) {
            let a = if i % 7 == 0 { String::new() } else { format!("{}.25", i % 1000) };
            text.push_str(&format!("c{i},{a},{},{}\n", if i % 3 == 0 { "p" } else { "q" }, i % 2));
        }
        std::fs::write(&path, text).unwrap();
        let memory = Dataset::load(&path, &schema).unwrap();
        let (spilled, scanned) = Spilled::load(&path, &schema, dir.path()).unwrap();
        assert_eq!(spilled.labels(), memory.labels());
        assert_eq!(scanned.findings.into_warnings(&schema), memory.warnings);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for r in ranges(memory.len()) {
            let x = memory.read(r.clone(), &mut a).unwrap();
            let y = spilled.read(r, &mut b).unwrap();
            assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()));
        }
        assert_eq!(spilled.id(READ_ROWS + 3).unwrap(), format!("c{}", READ_ROWS + 3));
        assert_eq!(spilled.source().sha256, memory.source.sha256);
    }
}
