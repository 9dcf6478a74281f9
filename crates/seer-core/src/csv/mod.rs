//! Long-format CSV input: one row per (series, timestamp) point.
//!
//! ```text
//! series_id,timestamp,value,temperature,label
//! a,2024-01-01T00:00:00Z,1.5,20.1,
//! a,2024-01-01T01:00:00Z,,19.8,rising
//! ```
//!
//! Column names match case-insensitively: the id is `series_id` or `unique_id`, the time
//! `timestamp` or `ds`, the value `value` or `y` (the last two are Nixtla's names); `label` is an
//! optional class label; every other column is a numeric extra feature.

mod columns;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::io::Read;

use ::csv::{ReaderBuilder, StringRecord, Trim};

use self::columns::Columns;
use crate::CoreError;
use crate::time::parse_timestamp;

/// Every series of one input file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    /// In order of first appearance in the file.
    pub series: Vec<Series>,
    /// Names of the extra feature columns, in header order, as spelled in the header.
    pub feature_names: Vec<String>,
}

/// One series: points sorted by timestamp, missing values as NaN.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub id: String,
    /// UTC unix seconds, ascending and distinct (for series read by [`read_long_csv`]).
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    /// One column per extra feature (as in [`Dataset::feature_names`]), aligned with
    /// `timestamps`.
    pub features: Vec<Vec<f64>>,
    /// The class label, for classifier training data.
    pub label: Option<String>,
}

/// Reads a long-format CSV file with a header.
///
/// - Fields are trimmed of surrounding whitespace; a UTF-8 byte order mark is skipped.
/// - Series keep the order of their first row; each series' points are sorted by timestamp.
/// - When a series has two rows with the same timestamp, the later row in the file wins, so a
///   correction appended to a file replaces the original point.
/// - Values and features that are empty, NaN or ±Inf (`nan`, `inf`, `-inf`, `Infinity`, …) are
///   missing and stored as NaN; the models mask them. Any other unparsable number is an error.
/// - A series' label is the last non-empty `label` in file order; `None` when all are empty.
///
/// Errors name the 1-based line of the file (the header is line 1) and the column: an empty
/// input, a header without data rows, missing or ambiguous columns, a row with a different
/// number of fields than the header, an empty series id, a bad timestamp or number.
pub fn read_long_csv<R: Read>(reader: R) -> Result<Dataset, CoreError> {
    let mut csv = ReaderBuilder::new()
        .has_headers(false)
        // Rows of the wrong length are reported with their line below, not by the csv crate.
        .flexible(true)
        .trim(Trim::All)
        .from_reader(LineIndex::new(reader));
    let mut record = StringRecord::new();
    let mut next = |record: &mut StringRecord| -> Result<Option<u64>, CoreError> {
        match csv.read_record(record) {
            Ok(true) => Ok(Some(csv.get_mut().line_of(record.position()))),
            Ok(false) => Ok(None),
            Err(e) => Err(csv_error(e, csv.get_mut())),
        }
    };

    let line = next(&mut record)?.ok_or(CoreError::EmptyInput)?;
    let columns = Columns::resolve(record.iter().map(str::to_string).collect(), line)?;
    let mut builder = Builder::new(&columns);
    while let Some(line) = next(&mut record)? {
        builder.push(&columns, &record, line)?;
    }
    if builder.series.is_empty() {
        return Err(CoreError::NoRows);
    }
    let feature_names = columns
        .features
        .iter()
        .map(|&i| columns.names[i].clone())
        .collect();
    Ok(Dataset {
        series: builder
            .series
            .into_iter()
            .map(SeriesBuilder::finish)
            .collect(),
        feature_names,
    })
}

/// The input, passed through unchanged, remembering its line breaks so that a record's line is
/// exact. The csv crate's own record line is that of the previous record's end: it has not yet
/// read the `\n` of a `\r\n` ending, nor the blank lines it skips before the record.
struct LineIndex<R> {
    inner: R,
    /// Bytes passed through so far.
    offset: u64,
    /// Offsets of the `\r` and `\n` bytes at or after the last record start asked about, with
    /// whether each is a `\n`: what lies between records, read ahead by the csv crate's buffer.
    breaks: VecDeque<(u64, bool)>,
    /// `\n` bytes before those in `breaks`.
    newlines: u64,
}

impl<R> LineIndex<R> {
    fn new(inner: R) -> Self {
        LineIndex {
            inner,
            offset: 0,
            breaks: VecDeque::new(),
            newlines: 0,
        }
    }

    /// The 1-based line of the first byte of a record that the csv crate says starts at `pos`:
    /// the first byte there that is not a line break. Asked for every record, in file order,
    /// so `breaks` stays as short as the csv crate's read-ahead.
    fn line_of(&mut self, pos: Option<&::csv::Position>) -> u64 {
        let Some(start) = pos.map(::csv::Position::byte) else {
            return 0;
        };
        while let Some(&(at, newline)) = self.breaks.front()
            && at < start
        {
            self.newlines += u64::from(newline);
            self.breaks.pop_front();
        }
        let leading = self
            .breaks
            .iter()
            .zip(start..)
            .take_while(|((at, _), expected)| at == expected)
            .filter(|((_, newline), _)| *newline)
            .count();
        1 + self.newlines + leading as u64
    }
}

impl<R: Read> Read for LineIndex<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let breaks = buf[..n]
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b, b'\r' | b'\n'))
            .map(|(i, &b)| (self.offset + i as u64, b == b'\n'));
        self.breaks.extend(breaks);
        self.offset += n as u64;
        Ok(n)
    }
}

fn csv_error<R>(err: ::csv::Error, lines: &mut LineIndex<R>) -> CoreError {
    match err.kind() {
        ::csv::ErrorKind::Utf8 { pos, err } => CoreError::Csv {
            line: lines.line_of(pos.as_ref()),
            message: format!("field {} is not valid utf-8", err.field() + 1),
        },
        _ => CoreError::Read(err.to_string()),
    }
}

/// A number field: empty and non-finite spellings are a missing point (NaN).
fn parse_number(field: &str) -> Option<f64> {
    if field.is_empty() {
        return Some(f64::NAN);
    }
    let v: f64 = field.parse().ok()?;
    Some(if v.is_finite() { v } else { f64::NAN })
}

/// Rows of one series in file order, before sorting.
struct SeriesBuilder {
    id: String,
    timestamps: Vec<i64>,
    values: Vec<f64>,
    features: Vec<Vec<f64>>,
    label: Option<String>,
}

impl SeriesBuilder {
    fn finish(self) -> Series {
        let mut order: Vec<usize> = (0..self.timestamps.len()).collect();
        // Stable, so rows with equal timestamps stay in file order and the last one can win.
        order.sort_by_key(|&i| self.timestamps[i]);
        let ts = &self.timestamps;
        let keep: Vec<usize> = order
            .iter()
            .enumerate()
            .filter(|&(k, &i)| order.get(k + 1).is_none_or(|&next| ts[next] != ts[i]))
            .map(|(_, &i)| i)
            .collect();
        Series {
            timestamps: keep.iter().map(|&i| self.timestamps[i]).collect(),
            values: keep.iter().map(|&i| self.values[i]).collect(),
            features: self
                .features
                .iter()
                .map(|column| keep.iter().map(|&i| column[i]).collect())
                .collect(),
            id: self.id,
            label: self.label,
        }
    }
}

struct Builder {
    series: Vec<SeriesBuilder>,
    index: HashMap<String, usize>,
    expected_fields: usize,
}

impl Builder {
    fn new(columns: &Columns) -> Builder {
        Builder {
            series: Vec::new(),
            index: HashMap::new(),
            expected_fields: columns.names.len(),
        }
    }

    fn push(
        &mut self,
        columns: &Columns,
        record: &StringRecord,
        line: u64,
    ) -> Result<(), CoreError> {
        if record.len() != self.expected_fields {
            return Err(CoreError::FieldCount {
                line,
                expected: self.expected_fields,
                found: record.len(),
            });
        }
        // The length check above makes every column index valid; `field` still avoids indexing.
        let field = |i: usize| record.get(i).unwrap_or_default();
        let number = |i: usize| {
            parse_number(field(i)).ok_or_else(|| CoreError::InvalidNumber {
                line,
                column: columns.names[i].clone(),
                value: field(i).to_string(),
            })
        };

        let id = field(columns.id);
        if id.is_empty() {
            return Err(CoreError::EmptySeriesId { line });
        }
        let ts = parse_timestamp(field(columns.timestamp)).map_err(|_| {
            CoreError::InvalidTimestampField {
                line,
                column: columns.names[columns.timestamp].clone(),
                value: field(columns.timestamp).to_string(),
            }
        })?;
        let value = number(columns.value)?;
        let features = columns
            .features
            .iter()
            .map(|&i| number(i))
            .collect::<Result<Vec<f64>, CoreError>>()?;
        let label = columns.label.map(field).filter(|l| !l.is_empty());

        let n_features = features.len();
        let k = *self.index.entry(id.to_string()).or_insert_with(|| {
            self.series.push(SeriesBuilder {
                id: id.to_string(),
                timestamps: Vec::new(),
                values: Vec::new(),
                features: vec![Vec::new(); n_features],
                label: None,
            });
            self.series.len() - 1
        });
        let s = &mut self.series[k];
        s.timestamps.push(ts);
        s.values.push(value);
        for (column, v) in s.features.iter_mut().zip(features) {
            column.push(v);
        }
        if let Some(label) = label {
            s.label = Some(label.to_string());
        }
        Ok(())
    }
}
