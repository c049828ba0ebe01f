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
//! still points at the right line of the file. Because it is textual, a value may only
//! hold characters that cannot change the YAML around it (see [`check_value`]): a
//! newline or a `,` in a value would otherwise inject keys or checks.
//!
//! Splitting is linear in the file: the matrix is read once, its rows are bounded
//! ([`row_limit`]) and kept as values only; a row's text is made when the row is loaded
//! ([`Variant::source`]), from the file with the `matrix:` entry blanked out, so no row
//! parses the other rows.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::parse::load::{Diagnostic, Diagnostics, Source};
use crate::parse::location::Loc;

/// How many rows one file may give unless `NETRIG_MATRIX_ROWS` says otherwise.
pub const DEFAULT_ROW_LIMIT: u64 = 10_000;

/// The most rows one file may give: `NETRIG_MATRIX_ROWS`, else [`DEFAULT_ROW_LIMIT`].
pub fn row_limit() -> u64 {
    row_limit_from(std::env::var("NETRIG_MATRIX_ROWS").ok().as_deref())
}

fn row_limit_from(value: Option<&str>) -> u64 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_ROW_LIMIT)
}

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

/// A value may be pasted into YAML text only if it reads as the same word wherever it
/// lands: in a plain scalar, a flow collection or a quoted string. So: letters, digits,
/// spaces inside, and `. _ / + = : -` (no `: `, no leading `-`/`:`, no trailing `:`).
/// Anything else could end the scalar and start new keys.
pub fn check_value(value: &Value) -> Result<(), String> {
    let Value::Text(s) = value else { return Ok(()) };
    let allowed = |c: char| c.is_ascii_alphanumeric() || " ._/+=:-".contains(c);
    let problem = if let Some(c) = s.chars().find(|&c| !allowed(c)) {
        Some(match c {
            '\n' | '\r' => "a line break".to_string(),
            c if c.is_control() => format!("the control character {}", c.escape_debug()),
            c => format!("`{c}`"),
        })
    } else if s.trim() != s || s.is_empty() {
        Some("leading or trailing spaces (or nothing at all)".into())
    } else if s.contains(": ") || s.ends_with(':') || s.starts_with(['-', ':']) {
        Some("a `:` or `-` that YAML reads as structure".into())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(what) => Err(format!(
            "the value {:?} contains {what}; values are pasted into the file's text, so they may hold only letters, digits, inner spaces and `._/+=:-`",
            s
        )),
    }
}

/// The rows of a file, shared by its variants: the file with its `matrix:` entry
/// blanked (lines keep their numbers) and where its `${...}` are.
#[derive(Debug)]
struct Template {
    source: Source,
    uses: Vec<Use>,
}

/// One run of a scenario file: the row's label (`ip_forward=0,reachable=false`) and its
/// values. A file without a matrix has one variant with no label.
#[derive(Debug, Clone)]
pub struct Variant {
    pub label: Option<String>,
    template: Arc<Template>,
    row: Option<BTreeMap<String, Value>>,
}

impl Variant {
    /// A file without a matrix: one run of the text as it is.
    pub fn whole(source: Source) -> Variant {
        Variant { label: None, template: Arc::new(Template { source, uses: Vec::new() }), row: None }
    }

    /// The text of this run, with the row's values substituted (made on each call).
    pub fn source(&self) -> Result<Source, Diagnostics> {
        let Template { source, uses } = &*self.template;
        let Some(row) = &self.row else { return Ok(source.clone()) };
        let text =
            substitute(source, uses, row, "matrix", |name| format!("this matrix row has no value for `{name}`"))?;
        Ok(Source { path: source.path.clone(), text })
    }
}

/// Only the `matrix:` key; everything else is read later, after substitution. The
/// two forms are tried one after the other rather than through the untagged enum,
/// which would lose the rows' locations.
#[derive(Deserialize)]
struct RowsOnly {
    matrix: Loc<Vec<Loc<BTreeMap<String, Value>>>>,
}
#[derive(Deserialize)]
struct ProductOnly {
    matrix: Loc<BTreeMap<String, Vec<Value>>>,
}

/// The matrix as written, with where its value starts.
enum Written {
    Rows(Loc<Vec<Loc<BTreeMap<String, Value>>>>),
    Product(Loc<BTreeMap<String, Vec<Value>>>),
}

impl Written {
    fn line(&self) -> u64 {
        match self {
            Written::Rows(m) => m.line,
            Written::Product(m) => m.line,
        }
    }
    fn column(&self) -> u64 {
        match self {
            Written::Rows(m) => m.column,
            Written::Product(m) => m.column,
        }
    }
}

fn read_matrix(text: &str) -> Option<Written> {
    if let Ok(m) = serde_saphyr::from_str::<RowsOnly>(text) {
        return Some(Written::Rows(m.matrix));
    }
    serde_saphyr::from_str::<ProductOnly>(text).ok().map(|m| Written::Product(m.matrix))
}

/// Split a file into its runs.
pub fn variants(source: &Source) -> Result<Vec<Variant>, Diagnostics> {
    let uses = placeholders(&source.text);
    // `${x}` is not valid inside a YAML flow mapping: read the matrix from a copy in
    // which every placeholder is a plain word.
    let neutral = neutralize(&source.text, &uses);
    let Some(matrix) = read_matrix(&neutral) else {
        if let Some(first) = uses.first() {
            return Err(one(
                source,
                first,
                "matrix",
                format!("`${{{}}}` is used but the file has no `matrix:`", first.name),
            ));
        }
        return Ok(vec![Variant::whole(source.clone())]);
    };
    let at =
        |message: String| Diagnostics(vec![Diagnostic::new(source, matrix.line(), matrix.column(), "matrix", message)]);
    let limit = row_limit();
    let count = row_count(&matrix);
    if count.is_none_or(|n| n > limit) {
        let n = count.map_or("more than 2^64".to_string(), |n| n.to_string());
        return Err(at(format!(
            "the matrix gives {n} rows; at most {limit} are allowed (split the file, or raise NETRIG_MATRIX_ROWS)"
        )));
    }
    let known = variables(&matrix);
    if let Some(bad) = known.iter().find(|name| !is_variable_name(name)) {
        return Err(at(format!("`{bad}` is not a variable name (letters, digits and `_`, not first a digit)")));
    }
    let template = Arc::new(blank_matrix(source, matrix.line()));
    let mut out = Vec::with_capacity(count.unwrap_or(0) as usize);
    for index in 0..count.unwrap_or(0) {
        let (row, line, column) = nth_row(&matrix, index);
        for (name, value) in &row {
            check_value(value).map_err(|m| {
                let d = Diagnostic::new(source, line, column, format!("matrix.{name}"), format!("row {index}: {m}"));
                Diagnostics(vec![d])
            })?;
        }
        if let Some(u) = template.uses.iter().find(|u| !row.contains_key(&u.name)) {
            let message = if known.contains(&u.name.as_str()) {
                format!("matrix row {index} (line {line}) has no value for `{}`", u.name)
            } else {
                format!("unknown variable `{}` (the matrix defines: {})", u.name, known.join(", "))
            };
            return Err(one(&template.source, u, "matrix", message));
        }
        let label = row.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        out.push(Variant { label: Some(label), template: template.clone(), row: Some(row) });
    }
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How many rows; `None` when the product does not even fit in 64 bits.
fn row_count(matrix: &Written) -> Option<u64> {
    match matrix {
        Written::Rows(rows) => Some(rows.len() as u64),
        Written::Product(lists) => lists.values().try_fold(1u64, |n, values| n.checked_mul(values.len() as u64)),
    }
}

/// Row `index` with where it was written (a product row: at the matrix). Product rows
/// are numbered with the last variable changing fastest.
fn nth_row(matrix: &Written, index: u64) -> (BTreeMap<String, Value>, u64, u64) {
    match matrix {
        Written::Rows(rows) => {
            let row = &rows[index as usize];
            (row.value.clone(), row.line, row.column)
        }
        Written::Product(lists) => {
            let mut rest = index;
            let mut row = BTreeMap::new();
            for (name, values) in lists.iter().rev() {
                let n = values.len() as u64;
                row.insert(name.clone(), values[(rest % n) as usize].clone());
                rest /= n;
            }
            (row, lists.line, lists.column)
        }
    }
}

fn variables(matrix: &Written) -> Vec<&str> {
    let mut names: Vec<&str> = match matrix {
        Written::Rows(rows) => rows.iter().flat_map(|r| r.value.keys()).map(String::as_str).collect(),
        Written::Product(lists) => lists.keys().map(String::as_str).collect(),
    };
    names.sort();
    names.dedup();
    names
}

/// The file with its top-level `matrix:` entry turned into empty lines, so that a row's
/// text does not carry (and its parse does not read) every other row. Left whole when
/// the entry cannot be delimited with certainty (then rows are slower, not wrong).
fn blank_matrix(source: &Source, value_line: u64) -> Template {
    let text = match matrix_region(&source.text, value_line) {
        Some(region) => {
            let newlines = source.text[region.clone()].matches('\n').count();
            let mut text = String::with_capacity(source.text.len());
            text.push_str(&source.text[..region.start]);
            text.extend(std::iter::repeat_n('\n', newlines));
            text.push_str(&source.text[region.end..]);
            text
        }
        None => source.text.clone(),
    };
    let uses = placeholders(&text);
    Template { source: Source { path: source.path.clone(), text }, uses }
}

/// The bytes of the top-level `matrix:` entry: its key line at column 1 and the lines
/// after it that are indented, blank, comments or block sequence items, up to the next
/// top-level key. `value_line` (where the parser found the matrix) must fall inside.
fn matrix_region(text: &str, value_line: u64) -> Option<Range<usize>> {
    let mut offset = 0;
    let mut start: Option<(usize, u64)> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let number = i as u64 + 1;
        match start {
            None if line.starts_with("matrix:") => start = Some((offset, number)),
            None => {}
            Some((begin, first)) => {
                let bare = line.trim_end();
                let continues =
                    bare.is_empty() || line.starts_with([' ', '\t', '#']) || bare == "-" || line.starts_with("- ");
                if !continues {
                    return (first <= value_line && value_line < number).then_some(begin..offset);
                }
            }
        }
        offset += line.len();
    }
    start.filter(|(_, first)| *first <= value_line).map(|(begin, _)| begin..text.len())
}

/// Replace every `${name}` of `uses` in `source` by its value; `missing` explains a
/// name that has none, and a value that could change the YAML around it is refused
/// (both errors point at the use, keyed `<scope>.<name>`).
pub(crate) fn substitute(
    source: &Source,
    uses: &[Use],
    values: &BTreeMap<String, Value>,
    scope: &str,
    missing: impl Fn(&str) -> String,
) -> Result<String, Diagnostics> {
    let mut text = String::with_capacity(source.text.len());
    let mut last = 0;
    for u in uses {
        let value = values.get(&u.name).ok_or_else(|| one(source, u, scope, missing(&u.name)))?;
        check_value(value).map_err(|m| one(source, u, scope, format!("`${{{}}}`: {m}", u.name)))?;
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

/// A problem with a use, at the use, keyed `<scope>.<name>` (`matrix.host`,
/// `params.bridge`): the variable it is about.
fn one(source: &Source, u: &Use, scope: &str, message: String) -> Diagnostics {
    let before = &source.text[..u.start];
    let line = before.matches('\n').count() as u64 + 1;
    let column = (u.start - before.rfind('\n').map_or(0, |i| i + 1)) as u64 + 1;
    Diagnostics(vec![Diagnostic::new(source, line, column, format!("{scope}.{}", u.name), message)])
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
        assert!(v[1].source().unwrap().text.contains("net.ipv4.ip_forward: 1}"));
        assert!(v[1].source().unwrap().text.contains("fails: true}"));
        // Lines do not move.
        assert_eq!(v[0].source().unwrap().text.lines().count(), text.lines().count());
    }

    #[test]
    fn lists_give_the_cartesian_product() {
        let v = variants(&src("matrix:\n  a: [0, 1]\n  b: [x, y, z]\nname: ${a}${b}\n")).unwrap();
        assert_eq!(v.len(), 6);
        assert!(v[5].source().unwrap().text.contains("name: 1z"));
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

    #[test]
    fn a_value_cannot_inject_yaml_and_labels_stay_on_one_line() {
        // A newline once added a `command:` check; a comma would add a key in a flow map.
        let text = "matrix:\n  - {host: \"10.0.0.2\\n  - command: {on: a, run: reboot}\"}\nnodes: {a: {}}\nexpect:\n  - ping: {from: a, to: ${host}}\n";
        let d = variants(&src(text)).unwrap_err();
        let d = &d.0[0];
        assert_eq!((d.line, d.key.as_str()), (2, "matrix.host"), "{d}");
        assert!(d.message.contains("a line break"), "{}", d.message);
        let d = variants(&src("matrix:\n  to: [\"10.0.0.2, fails: true\"]\nname: ${to}\n")).unwrap_err();
        assert!(d.0[0].message.contains("contains `,`"), "{}", d.0[0].message);
        // Words with dots, slashes, colons and inner spaces are fine.
        let v = variants(&src("matrix:\n  r: [\"10.0.0.0/8 via 10.0.0.1\", \"fd00::1\"]\nname: ${r}\n")).unwrap();
        assert_eq!(v[0].label.as_deref(), Some("r=10.0.0.0/8 via 10.0.0.1"));
        assert!(v.iter().all(|v| !v.label.as_ref().unwrap().contains('\n')));
    }

    #[test]
    fn a_product_beyond_the_row_limit_is_refused_before_expanding() {
        // 9 lists of 10 values: 10^9 rows, once several GB of copies.
        let lists: String = (0..9).map(|i| format!("  v{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n")).collect();
        let started = std::time::Instant::now();
        let d = variants(&src(&format!("name: x\nmatrix:\n{lists}"))).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let d = &d.0[0];
        assert_eq!((d.line, d.key.as_str()), (3, "matrix"), "{d}");
        assert!(d.message.contains("gives 1000000000 rows; at most 10000"), "{}", d.message);
        assert_eq!(row_limit_from(Some("20000")), 20_000);
        assert_eq!(row_limit_from(None), DEFAULT_ROW_LIMIT);
    }

    #[test]
    fn rows_do_not_carry_the_matrix_and_lines_do_not_move() {
        let text = "name: m\nmatrix:\n  - {a: 1}\n  # a comment\n  - {a: 2}\nnodes:\n  n${a}: {}\n";
        let v = variants(&src(text)).unwrap();
        let row = v[1].source().unwrap().text;
        assert_eq!(row, "name: m\n\n\n\n\nnodes:\n  n2: {}\n");
        // A sequence at the key's own indentation is part of the entry too.
        let text = "matrix:\n- {a: 1}\n- {a: 2}\nnodes: {n${a}: {}}\n";
        assert_eq!(variants(&src(text)).unwrap()[0].source().unwrap().text, "\n\n\nnodes: {n1: {}}\n");
    }

    #[test]
    fn ten_thousand_rows_split_and_load_in_linear_time() {
        let rows: String = (0..10_000).map(|i| format!("  - {{n: {i}}}\n")).collect();
        let text = format!(
            "matrix:\n{rows}nodes:\n  a: {{sysctl: {{net.ipv4.ip_forward: ${{n}}}}}}\nexpect:\n  - sysctl: {{on: a, key: net.ipv4.ip_forward, value: \"${{n}}\"}}\n"
        );
        let started = std::time::Instant::now();
        let v = variants(&src(&text)).unwrap();
        assert_eq!(v.len(), 10_000);
        for variant in v.iter().step_by(100) {
            let source = variant.source().unwrap();
            assert!(source.text.len() < 20_000 + 200, "a row's text carries the matrix: {} bytes", source.text.len());
            crate::parse::load::parse_and_validate(&source).unwrap();
        }
        // Debug build on a shared machine: quadratic took minutes; linear takes well under this.
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }
}
