//! `matrix:`: one scenario file, several runs. Each row binds variables that the file
//! uses as `${name}` anywhere (a sysctl value, an address, an expected outcome); each
//! row becomes its own test named with its values.
//!
//! ```yaml
//! matrix:                      # rows, each a full set of values ...
//!   - {ip_forward: 0, reachable: false}
//!   - {ip_forward: 1, reachable: true}
//! matrix:                      # ... or lists whose product gives the rows
//!   rp_filter: [0, 1, 2]
//! ```
//!
//! Substitution is textual and happens before the typed parse, so every diagnostic
//! still points at the right line of the file.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::parse::load::{Diagnostic, Diagnostics, Source};
use crate::parse::location::Loc;

/// The `matrix:` key of a scenario.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Matrix {
    /// Explicit rows: `[{ip_forward: 0, reachable: false}, ...]`.
    Rows(Vec<Loc<BTreeMap<String, Value>>>),
    /// Lists per variable; the rows are their cartesian product.
    Product(BTreeMap<String, Vec<Value>>),
}

/// A variable's value in one row.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Text(s) => f.write_str(s),
        }
    }
}

/// One run of a scenario file: the row's label (`ip_forward=0,reachable=false`) and
/// the text with its values substituted. A file without a matrix has one variant
/// with no label.
#[derive(Debug, Clone)]
pub struct Variant {
    pub label: Option<String>,
    pub source: Source,
}

/// Only the `matrix:` key; everything else is read later, after substitution. The
/// two forms are tried one after the other rather than through the untagged enum,
/// which would lose the rows' locations.
#[derive(Deserialize)]
struct RowsOnly {
    matrix: Vec<Loc<BTreeMap<String, Value>>>,
}
#[derive(Deserialize)]
struct ProductOnly {
    matrix: BTreeMap<String, Vec<Value>>,
}

fn read_matrix(text: &str) -> Option<Matrix> {
    if let Ok(m) = serde_saphyr::from_str::<RowsOnly>(text) {
        return Some(Matrix::Rows(m.matrix));
    }
    serde_saphyr::from_str::<ProductOnly>(text).ok().map(|m| Matrix::Product(m.matrix))
}

/// Split a file into its runs.
pub fn variants(source: &Source) -> Result<Vec<Variant>, Diagnostics> {
    let uses = placeholders(&source.text);
    // `${x}` is not valid inside a YAML flow mapping: read the matrix from a copy in
    // which every placeholder is a plain word.
    let neutral = neutralize(&source.text, &uses);
    let matrix = read_matrix(&neutral);
    let Some(matrix) = matrix else {
        if let Some(first) = uses.first() {
            return Err(one(source, first, format!("`${{{}}}` is used but the file has no `matrix:`", first.name)));
        }
        return Ok(vec![Variant { label: None, source: source.clone() }]);
    };
    let known = variables(&matrix);
    let mut out = Vec::new();
    for (index, (row, at)) in rows(&matrix).into_iter().enumerate() {
        let text = substitute(source, &uses, &row, |name| {
            if known.contains(&name) {
                format!("matrix row {index} (line {}) has no value for `{name}`", at.0)
            } else {
                format!("unknown variable `{name}` (the matrix defines: {})", known.join(", "))
            }
        })?;
        let label = row.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        out.push(Variant { label: Some(label), source: Source { path: source.path.clone(), text } });
    }
    Ok(out)
}

/// Rows with where they were written (line, column; 0 for product rows).
fn rows(matrix: &Matrix) -> Vec<(BTreeMap<String, Value>, (u64, u64))> {
    match matrix {
        Matrix::Rows(rows) => rows.iter().map(|r| (r.value.clone(), (r.line, r.column))).collect(),
        Matrix::Product(lists) => {
            let mut rows = vec![BTreeMap::new()];
            for (name, values) in lists {
                rows = rows
                    .into_iter()
                    .flat_map(|row| {
                        values.iter().map(move |v| {
                            let mut row = row.clone();
                            row.insert(name.clone(), v.clone());
                            row
                        })
                    })
                    .collect();
            }
            rows.into_iter().map(|r| (r, (0, 0))).collect()
        }
    }
}

fn variables(matrix: &Matrix) -> Vec<&str> {
    let mut names: Vec<&str> = match matrix {
        Matrix::Rows(rows) => rows.iter().flat_map(|r| r.value.keys()).map(String::as_str).collect(),
        Matrix::Product(lists) => lists.keys().map(String::as_str).collect(),
    };
    names.sort();
    names.dedup();
    names
}

/// Replace every `${name}` of `uses` in `source` by its value; `missing` explains a
/// name that has none (the error points at its use).
pub(crate) fn substitute(
    source: &Source,
    uses: &[Use],
    values: &BTreeMap<String, Value>,
    missing: impl Fn(&str) -> String,
) -> Result<String, Diagnostics> {
    let mut text = String::with_capacity(source.text.len());
    let mut last = 0;
    for u in uses {
        let value = values.get(&u.name).ok_or_else(|| one(source, u, missing(&u.name)))?;
        text.push_str(&source.text[last..u.start]);
        text.push_str(&value.to_string());
        last = u.end;
    }
    text.push_str(&source.text[last..]);
    Ok(text)
}

/// A `${name}` in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Use {
    pub(crate) name: String,
    start: usize,
    end: usize,
}

pub(crate) fn placeholders(text: &str) -> Vec<Use> {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").expect("valid regex");
    re.captures_iter(text)
        .map(|c| {
            let whole = c.get(0).expect("group 0 always matches");
            Use { name: c[1].to_string(), start: whole.start(), end: whole.end() }
        })
        .collect()
}

fn neutralize(text: &str, uses: &[Use]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for u in uses {
        out.push_str(&text[last..u.start]);
        out.push_str(&u.name);
        last = u.end;
    }
    out.push_str(&text[last..]);
    out
}

fn one(source: &Source, u: &Use, message: String) -> Diagnostics {
    let before = &source.text[..u.start];
    let line = before.matches('\n').count() as u64 + 1;
    let column = (u.start - before.rfind('\n').map_or(0, |i| i + 1)) as u64 + 1;
    Diagnostics(vec![Diagnostic::new(source, line, column, "matrix", message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source { path: "m.yaml".into(), text: text.into() }
    }

    #[test]
    fn a_file_without_matrix_is_one_unlabelled_variant() {
        let v = variants(&src("nodes: {a: {}}\n")).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].label, None);
    }

    #[test]
    fn rows_substitute_their_values_in_flow_mappings() {
        let text = "matrix:\n  - {fwd: 0, ok: false}\n  - {fwd: 1, ok: true}\nnodes:\n  a: {sysctl: {net.ipv4.ip_forward: ${fwd}}}\nexpect:\n  - ping: {from: a, to: 10.0.0.1, fails: ${ok}}\n";
        let v = variants(&src(text)).unwrap();
        let labels: Vec<_> = v.iter().map(|v| v.label.clone().unwrap()).collect();
        assert_eq!(labels, ["fwd=0,ok=false", "fwd=1,ok=true"]);
        assert!(v[1].source.text.contains("net.ipv4.ip_forward: 1}"));
        assert!(v[1].source.text.contains("fails: true}"));
        // Lines do not move.
        assert_eq!(v[0].source.text.lines().count(), text.lines().count());
    }

    #[test]
    fn lists_give_the_cartesian_product() {
        let v = variants(&src("matrix:\n  a: [0, 1]\n  b: [x, y, z]\nname: ${a}${b}\n")).unwrap();
        assert_eq!(v.len(), 6);
        assert!(v[5].source.text.contains("name: 1z"));
    }

    #[test]
    fn unknown_variable_is_located() {
        let d = variants(&src("matrix:\n  a: [0]\nname: x\nabout: ${b}\n")).unwrap_err();
        let d = &d.0[0];
        assert_eq!((d.line, d.column), (4, 8));
        assert!(d.message.contains("unknown variable `b`"), "{}", d.message);
    }

    #[test]
    fn row_missing_a_value_is_located() {
        let d = variants(&src("matrix:\n  - {a: 0, b: 1}\n  - {a: 1}\nname: ${a}${b}\n")).unwrap_err();
        let d = &d.0[0];
        assert_eq!(d.line, 4);
        assert!(d.message.contains("matrix row 1 (line 3) has no value for `b`"), "{}", d.message);
    }

    #[test]
    fn placeholder_without_matrix_is_an_error() {
        let d = variants(&src("name: ${a}\n")).unwrap_err();
        assert!(d.0[0].message.contains("has no `matrix:`"));
    }
}
