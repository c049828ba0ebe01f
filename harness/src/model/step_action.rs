//! One item of a step's `do:` list: an action, and the refusal it may be expected to
//! meet (`expect_error:` beside the action's key).
//!
//! ```yaml
//! do:
//!   - add_route: {on: a, route: "10.9.0.0/16 via 10.7.0.1"}
//!     expect_error: ENETUNREACH          # or the kernel's words: "Network is unreachable"
//! ```
//!
//! Read by hand rather than derived: `expect_error` sits in the same map as the action's
//! key, which serde's derive cannot combine with an externally tagged enum without
//! buffering the value (and losing the line numbers of every field inside it). Here the
//! action's value is read straight from the YAML, as the derive would.

use std::borrow::Cow;
use std::fmt;
use std::ops::{Deref, DerefMut};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, VariantAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use super::{Action, Loc};

/// The key beside an action's that expects a refusal.
const EXPECT_ERROR: &str = "expect_error";

/// An action of a step, and the error the kernel is expected to refuse it with.
#[derive(Debug, Clone)]
pub struct StepAction {
    pub action: Action,
    /// An errno name (`ENETUNREACH`) or the kernel's words (`Network is unreachable`,
    /// or its extended-ack explanation): the action must be refused with exactly that.
    pub expect_error: Option<Loc<String>>,
}

impl From<Action> for StepAction {
    fn from(action: Action) -> Self {
        StepAction { action, expect_error: None }
    }
}

impl Deref for StepAction {
    type Target = Action;
    fn deref(&self) -> &Action {
        &self.action
    }
}

impl DerefMut for StepAction {
    fn deref_mut(&mut self) -> &mut Action {
        &mut self.action
    }
}

impl Action {
    /// Whether a failure of this action is the kernel's refusal, so that it can be
    /// expected with `expect_error`. Commands, frames sent, services and the clock fail
    /// for reasons of their own, without an errno of the kernel to compare.
    pub fn is_refusable(&self) -> bool {
        !matches!(
            self,
            Action::Run(_)
                | Action::Send(_)
                | Action::Replay(_)
                | Action::StartService(_)
                | Action::StopService(_)
                | Action::RestartService(_)
                | Action::SignalService(_)
                | Action::ResetCounters(_)
                | Action::Wait(_)
        )
    }
}

impl StepAction {
    /// Why `expect_error` cannot be met: the action is no kernel's to refuse, or the
    /// error is a misspelt errno name.
    pub fn check_expected_error(&self) -> Result<(), String> {
        let Some(expected) = &self.expect_error else { return Ok(()) };
        if !self.is_refusable() {
            return Err("only an action the kernel carries out can be expected to be refused: not a command, \
                        a frame sent, a service, a counter reset or a wait"
                .into());
        }
        if expected.trim().is_empty() {
            return Err("say which error: an errno name (`ENETUNREACH`) or the kernel's words".into());
        }
        let looks_like_errno = expected.len() > 1
            && expected.starts_with('E')
            && expected.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if looks_like_errno && !crate::observe::cause::is_errno_name(expected) {
            return Err(format!("`{}` is not an errno name (write e.g. `ENETUNREACH`, `EEXIST`)", expected.as_str()));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for StepAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StepActionVisitor)
    }
}

struct StepActionVisitor;

impl<'de> Visitor<'de> for StepActionVisitor {
    type Value = StepAction;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an action such as `add_route: {...}`, optionally with `expect_error: ERRNO`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepAction, A::Error> {
        let mut action = None;
        let mut expect_error = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == EXPECT_ERROR {
                if expect_error.is_some() {
                    return Err(de::Error::duplicate_field(EXPECT_ERROR));
                }
                expect_error = Some(map.next_value::<Loc<String>>()?);
            } else if action.is_some() {
                return Err(de::Error::custom(format!(
                    "`{key}`: one action per list item (start another item with `- {key}:`)"
                )));
            } else {
                action = Some(Action::deserialize(OneVariant { name: key, map: &mut map })?);
            }
        }
        let action = action.ok_or_else(|| de::Error::custom("no action beside `expect_error`"))?;
        Ok(StepAction { action, expect_error })
    }
}

/// The action's key and the map it was read from, seen by [`Action`]'s derived
/// `Deserialize` as an externally tagged enum: the variant is the key, its content the
/// map's next value.
struct OneVariant<'m, A> {
    name: String,
    map: &'m mut A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for OneVariant<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for OneVariant<'_, A> {
    type Error = A::Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), A::Error> {
        let name = de::value::StrDeserializer::<A::Error>::new(&self.name);
        let variant = seed.deserialize(name)?;
        Ok((variant, self))
    }
}

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for OneVariant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.map.next_value()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    // Every action is a newtype variant (its fields are a struct of their own).
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom(format!("`{}` is not an action written as a list", self.name)))
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom(format!("`{}` is not an action written as a map", self.name)))
    }
}

/// The schema of [`Action`], each variant's object also allowing `expect_error`.
impl JsonSchema for StepAction {
    fn schema_name() -> Cow<'static, str> {
        "StepAction".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = Action::json_schema(generator);
        let expect_error = serde_json::json!({
            "description": "The action must be refused by the kernel with this error: an errno name \
                            (`ENETUNREACH`) or the kernel's words (`Network is unreachable`).",
            "type": "string",
        });
        let variants = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()).into_iter().flatten();
        for properties in variants.filter_map(|v| v.get_mut("properties")).filter_map(|p| p.as_object_mut()) {
            properties.insert(EXPECT_ERROR.into(), expect_error.clone());
        }
        schema
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Step;

    fn step(yaml: &str) -> Result<Step, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn expect_error_sits_beside_the_action_in_either_order() {
        let s = step(
            "do:\n  - add_route: {on: a, route: 10.9.0.0/16 via 10.7.0.1}\n    expect_error: ENETUNREACH\n  \
             - expect_error: File exists\n    del_address: {dev: a:eth0, address: 10.0.0.1/24}\n  \
             - set_link: {dev: a:eth0, state: down}\n",
        )
        .unwrap();
        let expected: Vec<_> =
            s.actions.iter().map(|a| a.expect_error.as_ref().map(|e| (e.as_str(), e.line))).collect();
        assert_eq!(expected, [Some(("ENETUNREACH", 3)), Some(("File exists", 4)), None]);
        assert!(matches!(*s.actions[0], Action::AddRoute(_)));
        assert!(matches!(*s.actions[1], Action::DelAddress(_)));
        // The action's own fields keep their lines.
        let Action::DelAddress(a) = &*s.actions[1] else { unreachable!() };
        assert_eq!(a.dev.line, 5);
    }

    #[test]
    fn mistakes_in_an_item_are_named() {
        let unknown = step("do:\n  - add_rout: {on: a, route: 10.9.0.0/16 via 10.7.0.1}\n").unwrap_err();
        assert!(unknown.contains("unknown variant `add_rout`"), "{unknown}");
        let two = step("do:\n  - set_link: {dev: a:e, state: up}\n    del_link: {dev: a:e}\n").unwrap_err();
        assert!(two.contains("one action per list item"), "{two}");
        let none = step("do:\n  - expect_error: EEXIST\n").unwrap_err();
        assert!(none.contains("no action beside `expect_error`"), "{none}");
        let field = step("do:\n  - set_link: {dev: a:e, stat: up}\n").unwrap_err();
        assert!(field.contains("unknown field `stat`"), "{field}");
    }

    #[test]
    fn expect_error_needs_a_kernel_action_and_a_real_errno_name() {
        let problem = |yaml: &str| step(yaml).unwrap().actions[0].check_expected_error().err();
        assert_eq!(problem("do:\n  - del_link: {dev: a:e}\n    expect_error: ENODEV\n"), None);
        assert_eq!(problem("do:\n  - set_link: {dev: a:e, mtu: 9}\n    expect_error: Invalid argument\n"), None);
        let misspelt = problem("do:\n  - set_link: {dev: a:e, mtu: 9}\n    expect_error: EINVALID\n").unwrap();
        assert!(misspelt.contains("`EINVALID` is not an errno name"), "{misspelt}");
        let command = problem("do:\n  - run: {on: a, cmd: 'false'}\n    expect_error: EPERM\n").unwrap();
        assert!(command.contains("not a command"), "{command}");
        assert!(problem("do:\n  - set_link: {dev: a:e, mtu: 9}\n    expect_error: ' '\n").is_some());
    }

    #[test]
    fn the_schema_allows_expect_error_beside_every_action() {
        let schema = schemars::schema_for!(StepAction);
        let variants = schema.get("oneOf").and_then(|v| v.as_array()).expect("one object per action");
        assert!(variants.len() > 20);
        assert!(variants.iter().all(|v| v["properties"].get(EXPECT_ERROR).is_some()));
    }
}
