//! Stage 1, parse: scenario text → a validated [`crate::model::Scenario`], or
//! diagnostics naming file, line, column and key. Nothing is built unless this succeeds.
//!
//! [`load`] reads and deserializes (the `ip`-like strings through [`syntax`], every
//! value keeping its [`location`]), [`matrix`] splits a file into rows, [`include`]
//! merges fixtures, [`validate`] checks what the YAML layer cannot (names, addresses,
//! sizes; [`family`]: sysctls one address family lacks), and [`schema`] publishes the format as JSON Schema for editors.

pub mod family;
pub mod include;
pub mod load;
pub mod location;
pub mod matrix;
pub mod schema;
pub mod syntax;
pub mod validate;
