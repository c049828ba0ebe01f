//! The JSON Schema of the scenario format, generated from the model so editors can
//! complete and check scenario files. `docs/scenario.schema.json` is this output,
//! kept current by a test.

use crate::model::Scenario;

/// The schema as pretty-printed JSON.
pub fn json() -> String {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_string_pretty(&schema).expect("a schema always serializes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schema_is_current() {
        let path = crate::run::runner::workspace_root().join("docs/scenario.schema.json");
        let generated = super::json() + "\n";
        if std::env::var_os("NETRIG_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/scenario.schema.json is out of date: run `NETRIG_UPDATE_SCHEMA=1 cargo test schema` and commit it"
        );
    }
}
