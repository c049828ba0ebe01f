//! [`Loc`]: a value together with where it was written in the scenario file.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

/// A value and its 1-based line and column in the file it was read from.
///
/// Equality, ordering and hashing look at the value only, so `Loc<String>` works as a
/// map key that still remembers where the key was written.
#[derive(Debug, Clone)]
pub struct Loc<T> {
    pub value: T,
    pub line: u64,
    pub column: u64,
    /// Which file: 0 is the scenario itself, higher numbers its included fixtures
    /// (see [`reading_source`]).
    pub source: usize,
}

impl<T> Loc<T> {
    /// A value with no known location (built in code).
    pub fn unplaced(value: T) -> Self {
        Loc { value, line: 0, column: 0, source: 0 }
    }
}

thread_local! {
    static SOURCE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Deserialize with every [`Loc`] marked as coming from source number `id`. The YAML
/// layer knows lines but not files; a scenario and the fixtures it includes are parsed
/// one after the other, so the file is carried here, on the parsing thread.
pub fn reading_source<T>(id: usize, parse: impl FnOnce() -> T) -> T {
    let previous = SOURCE.replace(id);
    let result = parse();
    SOURCE.set(previous);
    result
}

impl<T> Deref for Loc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Loc<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Loc<T> {}
impl<T: PartialOrd> PartialOrd for Loc<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}
impl<T: Ord> Ord for Loc<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}
impl<T: Hash> Hash for Loc<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}
impl std::borrow::Borrow<str> for Loc<String> {
    fn borrow(&self) -> &str {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Loc<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Loc {
            value: spanned.value,
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
            source: SOURCE.get(),
        })
    }
}

impl<T: JsonSchema> JsonSchema for Loc<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
}
