//! Reading a scenario file into the typed model, with diagnostics that name the file,
//! line, column and key path, and show the offending line with a caret.
//!
//! Two kinds of problems end up here: what the YAML layer rejects while deserializing
//! (syntax, unknown or missing keys, a bad address or route) and what [`validate`]
//! finds afterwards (dangling references, duplicates, conflicts). Both become the same
//! [`Diagnostic`], so the runner, `netrig check` and the tests print them alike.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::Scenario;
use crate::{parse::include, parse::validate};

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when unknown.
    pub line: u64,
    /// 1-based; 0 when unknown.
    pub column: u64,
    /// Where in the document, e.g. `nodes.host.routes[1]` (empty for the whole file).
    pub key: String,
    pub message: String,
    /// The offending source line with a caret under the column.
    pub snippet: String,
}

impl Diagnostic {
    pub fn new(source: &Source, line: u64, column: u64, key: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: source.path.clone(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            snippet: snippet(&source.text, line, column),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}:{}:{}", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

/// Every problem found in one file (at least one).
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A scenario file's path and text.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// The largest scenario or fixture file read, in bytes (a scenario is a few KB; a
/// 10,000-row matrix a few hundred).
pub const MAX_FILE_BYTES: u64 = 8 << 20;

impl Source {
    /// Read a scenario or fixture file: a regular file (a link to one is fine) of at
    /// most [`MAX_FILE_BYTES`], in UTF-8. A FIFO or device is refused without reading
    /// it (it could block or never end); a bad byte is reported where it is.
    pub fn read(path: &Path) -> Result<Source, Diagnostics> {
        let fail = |line: u64, column: u64, message: String| {
            Diagnostics(vec![Diagnostic {
                file: path.to_path_buf(),
                line,
                column,
                key: String::new(),
                message,
                snippet: String::new(),
            }])
        };
        let bytes = read_regular(path).map_err(|m| fail(0, 0, m))?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source { path: path.to_path_buf(), text }),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let column = std::str::from_utf8(&valid[line_start..]).map_or(1, |s| s.chars().count() as u64 + 1);
                Err(fail(line, column, "the file is not UTF-8 text (a byte here is not valid UTF-8)".into()))
            }
        }
    }
}

/// The bytes of `path` if it is a regular file no larger than [`MAX_FILE_BYTES`]. Opened
/// non-blocking and checked on the open file, so a FIFO neither blocks nor is read.
fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| format!("cannot read file: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read file: {e}"))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!("cannot read file: it is {what}; scenarios are read from regular files only"));
    }
    let too_big = || format!("the file is larger than {} MiB, the most a scenario may be", MAX_FILE_BYTES >> 20);
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded even if the file grows while read.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Read, parse and validate a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Diagnostics> {
    parse_and_validate(&Source::read(path)?)
}

/// Parse, resolve includes and validate scenario text; nothing is built unless this
/// succeeds.
pub fn parse_and_validate(source: &Source) -> Result<Scenario, Diagnostics> {
    let mut scenario = parse(source).map_err(|d| Diagnostics(vec![d]))?;
    let mut sources = vec![source.clone()];
    include::resolve(&mut scenario, &mut sources)?;
    include::locate_pcaps(&mut scenario, &sources);
    let problems = validate::validate(&scenario, &sources);
    if problems.is_empty() { Ok(scenario) } else { Err(Diagnostics(problems)) }
}

/// Deserialize a scenario file only (the YAML layer's checks).
pub fn parse(source: &Source) -> Result<Scenario, Diagnostic> {
    parse_as(source, 0)
}

/// Deserialize `source` as `T`, marking locations as coming from source number `id`.
pub fn parse_as<T: serde::de::DeserializeOwned>(source: &Source, id: usize) -> Result<T, Diagnostic> {
    let mut key = String::new();
    let parsed = crate::parse::location::reading_source(id, || {
        serde_saphyr::with_deserializer_from_str(&source.text, |de| {
            serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
                key = clean_key_path(&e.path().to_string());
                e.into_inner()
            })
        })
    });
    parsed.map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        Diagnostic::new(source, line, column, key, bare_message(&e))
    })
}

/// serde_path_to_error renders our located wrappers as a `.value` segment and the
/// document root as `.`: drop both so the path reads as the user wrote it.
fn clean_key_path(path: &str) -> String {
    // A key the layer could not name (a duplicate) is `?`: the path up to it says where.
    let cleaned = path.replace(".value", "");
    let cleaned = cleaned.strip_suffix(".?").unwrap_or(&cleaned).to_string();
    if cleaned == "." { String::new() } else { cleaned }
}

/// The YAML layer's message without its own location prefix and snippet (we print
/// both ourselves, with the file name).
fn bare_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
    let message = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") && prefix.contains(" column ") => rest,
        _ => first,
    };
    // Some messages end with the location again (" at line 4, column 5").
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    };
    in_our_words(message)
}

/// The YAML layer's messages that speak of its own API (options, functions, budget
/// structs) told in the scenario's terms instead.
fn in_our_words(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(", set DuplicateKeyPolicy").next().unwrap_or(rest);
        return format!("duplicate key `{key}`: it is already written in this mapping");
    }
    if message.starts_with("multiple YAML documents detected") {
        return "a scenario file holds one YAML document; this `---` starts a second".into();
    }
    if let Some(rest) = message.strip_prefix("budget breached: ") {
        // e.g. `Nodes { nodes: 250001 }`: which limit, and the count that crossed it.
        let what = rest.split([' ', '{']).next().unwrap_or_default().to_lowercase();
        let count = rest.chars().filter(char::is_ascii_digit).collect::<String>();
        return format!(
            "the file is larger than a scenario can be: its YAML passes the parser's limit on {what} (at {count}); is it generated wrong?"
        );
    }
    message.to_string()
}

/// How many characters of the offending line a snippet quotes on each side of the
/// column: a generated file's one line can be megabytes long.
const SNIPPET_REACH: usize = 60;

/// Two lines: the source line numbered, and a caret under `column`. A long line is cut
/// to the part around the column, the cuts marked with `…`.
fn snippet(text: &str, line: u64, column: u64) -> String {
    let Some(src) = line.checked_sub(1).and_then(|i| text.lines().nth(i as usize)) else {
        return String::new();
    };
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let at = column.saturating_sub(1) as usize;
    let first = at.saturating_sub(SNIPPET_REACH);
    let mut chars = src.chars().skip(first);
    let shown: String = chars.by_ref().take(at - first + SNIPPET_REACH).collect();
    let (before, after) = (if first > 0 { "…" } else { "" }, if chars.next().is_some() { "…" } else { "" });
    let caret_at = " ".repeat(at - first + before.chars().count());
    format!("{pad} |\n{number} | {before}{shown}{after}\n{pad} | {caret_at}^")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source { path: "scenarios/t.yaml".into(), text: text.into() }
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let d = parse(&src("nodes:\n  a: {\n  b: [\n")).unwrap_err();
        assert_eq!(d.file, Path::new("scenarios/t.yaml"));
        assert!(d.line > 0, "{d}");
        assert!(d.to_string().starts_with("error: scenarios/t.yaml:"), "{d}");
    }

    #[test]
    fn unknown_key_is_located_with_its_path() {
        let d = parse(&src("nodes:\n  a: {}\n  b:\n    rootes: []\n")).unwrap_err();
        assert_eq!((d.line, d.column), (4, 5));
        assert_eq!(d.key, "nodes.b.rootes");
        assert!(d.message.contains("unknown field `rootes`"), "{}", d.message);
        assert!(d.to_string().contains("4 |     rootes: []"), "{d}");
    }

    #[test]
    fn missing_key_names_the_check() {
        let d = parse(&src("nodes:\n  a: {}\nexpect:\n  - ping: {to: 10.0.0.2}\n")).unwrap_err();
        assert_eq!(d.line, 4);
        assert_eq!(d.key, "expect[0].ping");
        assert!(d.message.contains("missing field `from`"), "{}", d.message);
    }

    #[test]
    fn bad_route_points_at_the_route() {
        let d = parse(&src("nodes:\n  a:\n    routes: [\"10.0.0.0/8 gw 1.2.3.4\"]\n")).unwrap_err();
        assert_eq!((d.line, d.column, d.key.as_str()), (3, 14, "nodes.a.routes[0]"));
        assert!(d.message.contains("`gw` is not understood"), "{}", d.message);
    }

    #[test]
    fn zero_queues_point_at_the_key() {
        let yaml = "nodes: {a: {}, b: {}}\nlinks:\n  - veth: [a:e0, b:e0]\n    queues: 0\n";
        let d = parse(&src(yaml)).unwrap_err();
        assert_eq!((d.line, d.key.as_str()), (4, "links[0].queues"));
        assert!(d.message.contains("nonzero"), "{}", d.message);
    }

    #[test]
    fn duplicate_node_is_rejected() {
        let d = parse(&src("nodes:\n  a: {}\n  a: {}\n")).unwrap_err();
        assert_eq!(d.line, 3);
        assert!(d.message.contains("duplicate"), "{}", d.message);
    }

    #[test]
    fn snippet_puts_the_caret_under_the_column() {
        assert_eq!(snippet("ab\ncdef\n", 2, 3), "  |\n2 | cdef\n  |   ^");
        assert_eq!(snippet("ab\n", 9, 1), "");
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.yaml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Once, this blocked for ever waiting for a writer.
        let e = Source::read(&fifo).unwrap_err().to_string();
        assert!(e.contains("it is a FIFO"), "{e}");
        let zero = dir.path().join("zero.yaml");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let e = Source::read(&zero).unwrap_err().to_string();
        assert!(e.contains("it is a device"), "{e}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let e = Source::read(&big).unwrap_err().to_string();
        assert!(e.contains("larger than 8 MiB"), "{e}");
        // A link to a regular file is read.
        let real = dir.path().join("real.yaml");
        std::fs::write(&real, "nodes: {}\n").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(Source::read(&link).unwrap().text, "nodes: {}\n");
    }

    #[test]
    fn a_byte_that_is_not_utf8_is_reported_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.yaml");
        std::fs::write(&path, b"nodes:\n  caf\xe9: {}\n").unwrap();
        let d = Source::read(&path).unwrap_err();
        assert_eq!((d.0[0].line, d.0[0].column), (2, 6), "{d}");
        assert!(d.0[0].message.contains("not UTF-8"), "{d}");
    }

    #[test]
    fn messages_speak_of_the_scenario_not_of_the_yaml_library() {
        let d = parse(&src("nodes:\n  a: {}\n  a: {}\n")).unwrap_err();
        assert_eq!((d.line, d.key.as_str()), (3, "nodes"));
        assert_eq!(d.message, "duplicate key `a`: it is already written in this mapping");
        let d = parse(&src("nodes: {a: {}}\n---\nnodes: {b: {}}\n")).unwrap_err();
        assert!(d.message.contains("holds one YAML document"), "{}", d.message);
        let many: String = (0..300_000).map(|i| format!("net.x{i}: 1, ")).collect();
        let d = parse(&src(&format!("nodes:\n  a: {{sysctl: {{{many}}}}}\n"))).unwrap_err();
        assert!(d.message.starts_with("the file is larger than a scenario can be"), "{}", d.message);
        for d in [&d] {
            let text = d.to_string();
            for library in ["DuplicateKeyPolicy", "from_str_multiple", "budget", "Nodes {"] {
                assert!(!text.contains(library), "{text}");
            }
            // The quoted line is cut around the column, not 3 MB long.
            assert!(text.len() < 400, "{} bytes", text.len());
        }
    }

    #[test]
    fn a_long_line_is_quoted_around_its_column() {
        let line = format!("{}X{}", "a".repeat(1000), "b".repeat(1000));
        let s = snippet(&line, 1, 1001);
        let quoted = s.lines().nth(1).unwrap();
        let caret = s.lines().nth(2).unwrap();
        assert_eq!(quoted.chars().count(), "1 | ".len() + 1 + 120 + 1, "{quoted}");
        assert_eq!(quoted.chars().nth(caret.len() - 1), Some('X'), "{s}");
        assert!(quoted.starts_with("1 | …a") && quoted.ends_with("b…"), "{quoted}");
    }
}
