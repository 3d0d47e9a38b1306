//! A small validator of OCSF events against the compiled OCSF schema in
//! `tests/ocsf/schema-1.1.0.json` (classes and objects with their attributes resolved).
//!
//! What it checks, for the event's class (picked by `class_uid`, 0 being `base_event`) and,
//! recursively, every object in it:
//!
//! - every `required` attribute is present (a required attribute of a profile only when the
//!   profile is in `metadata.profiles`);
//! - no attribute the class or object does not define; an attribute of a profile only when
//!   the profile is in `metadata.profiles`;
//! - types: `string_t` and the types derived from it are strings (`ip_t` an address),
//!   `integer_t`, `long_t` and the types derived from them (`timestamp_t`, `port_t`) are
//!   integers, `float_t` numbers, `boolean_t` booleans, `object_t` objects of their
//!   `object_type` (`object`, as `unmapped` is typed, is free-form), arrays when `is_array`;
//! - the value of an attribute with an `enum` is one of its keys;
//! - the `at_least_one` and `just_one` constraints of classes and objects;
//! - no JSON `null` anywhere (inside free-form objects too);
//! - `metadata.version` is the schema's version, `type_uid` is `class_uid * 100 +
//!   activity_id`, `category_uid` is the class's category.
//!
//! Errors are readable paths such as `authentication.user: required` or
//! `authentication: at least one of [service, dst_endpoint] required`.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// Where the schema file is, relative to this crate.
pub const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/ocsf/schema-1.1.0.json"
);

/// The compiled OCSF schema.
pub struct Schema {
    root: Value,
}

/// A class or an object definition: its attributes and constraints.
struct Definition<'a> {
    name: &'a str,
    attributes: &'a Map<String, Value>,
    constraints: Option<&'a Value>,
}

impl<'a> Definition<'a> {
    fn of(def: &'a Value) -> Option<Self> {
        Some(Definition {
            name: def.get("name")?.as_str()?,
            attributes: def.get("attributes")?.as_object()?,
            constraints: def.get("constraints"),
        })
    }
}

impl Schema {
    /// Reads the schema from [`SCHEMA_PATH`].
    pub fn load() -> Self {
        let text = std::fs::read_to_string(SCHEMA_PATH)
            .unwrap_or_else(|e| panic!("reading {SCHEMA_PATH}: {e}"));
        Schema {
            root: serde_json::from_str(&text).expect("the schema is JSON"),
        }
    }

    /// The schema's version, e.g. `1.1.0`.
    pub fn version(&self) -> &str {
        self.root["version"].as_str().expect("a version")
    }

    /// The class whose `uid` is `class_uid` (0: the base event).
    fn class(&self, class_uid: u64) -> Option<&Value> {
        if class_uid == 0 {
            return Some(&self.root["base_event"]);
        }
        self.root["classes"]
            .as_object()?
            .values()
            .find(|c| c["uid"].as_u64() == Some(class_uid))
    }

    fn object(&self, name: &str) -> Option<&Value> {
        self.root["objects"].get(name)
    }

    /// The base type of a type name: `string_t`, `integer_t`, `long_t`, `float_t`,
    /// `boolean_t`, `json_t` or `object_t` (`ip_t` and `username_t` are `string_t`,
    /// `timestamp_t` is `long_t`, `port_t` is `integer_t`).
    fn base_type<'s>(&'s self, mut ty: &'s str) -> &'s str {
        while let Some(parent) = self.root["types"][ty]["type"].as_str() {
            ty = parent;
        }
        ty
    }

    /// Every error of `event`, as readable paths; empty when it validates.
    pub fn validate(&self, event: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(obj) = event.as_object() else {
            errors.push("event: not an object".into());
            return errors;
        };
        let Some(class_uid) = obj.get("class_uid").and_then(Value::as_u64) else {
            errors.push("event.class_uid: required, an integer".into());
            return errors;
        };
        let Some(class) = self.class(class_uid) else {
            errors.push(format!(
                "event.class_uid: no class {class_uid} in the schema"
            ));
            return errors;
        };
        let def = Definition::of(class).expect("a class has a name and attributes");
        find_nulls(def.name, event, &mut errors);
        let profiles: Vec<&str> = event["metadata"]["profiles"]
            .as_array()
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        self.check_object(def.name, &def, obj, &profiles, &mut errors);
        self.check_event_rules(def.name, class, obj, &mut errors);
        errors
    }

    /// The rules between attributes of the event itself.
    fn check_event_rules(
        &self,
        path: &str,
        class: &Value,
        event: &Map<String, Value>,
        errors: &mut Vec<String>,
    ) {
        let version = event.get("metadata").and_then(|m| m.get("version"));
        if version.and_then(Value::as_str) != Some(self.version()) {
            errors.push(format!(
                "{path}.metadata.version: {} is not the schema's {}",
                show(version),
                self.version()
            ));
        }
        let int = |k: &str| event.get(k).and_then(Value::as_u64);
        if let (Some(class_uid), Some(activity_id)) = (int("class_uid"), int("activity_id")) {
            if int("type_uid") != Some(class_uid * 100 + activity_id) {
                errors.push(format!(
                    "{path}.type_uid: {} is not class_uid * 100 + activity_id = {}",
                    show(event.get("type_uid")),
                    class_uid * 100 + activity_id
                ));
            }
        }
        if int("category_uid") != class["category_uid"].as_u64() {
            errors.push(format!(
                "{path}.category_uid: {} is not the class's category {}",
                show(event.get("category_uid")),
                class["category_uid"]
            ));
        }
    }

    /// Checks one object (or the event) against its definition.
    fn check_object(
        &self,
        path: &str,
        def: &Definition<'_>,
        value: &Map<String, Value>,
        profiles: &[&str],
        errors: &mut Vec<String>,
    ) {
        let active = |attr: &Value| match attr.get("profile").and_then(Value::as_str) {
            Some(p) => profiles.contains(&p),
            None => true,
        };
        for (key, v) in value {
            let here = format!("{path}.{key}");
            match def.attributes.get(key) {
                None => errors.push(format!("{here}: not an attribute of {}", def.name)),
                Some(attr) if !active(attr) => errors.push(format!(
                    "{here}: attribute of the profile {}, not in metadata.profiles",
                    attr["profile"]
                )),
                Some(attr) => self.check_value(&here, attr, v, profiles, errors),
            }
        }
        for (key, attr) in def.attributes {
            if attr["requirement"] == "required" && active(attr) && !value.contains_key(key) {
                errors.push(format!("{path}.{key}: required"));
            }
        }
        check_constraints(path, def.constraints, value, errors);
    }

    /// Checks the value of one attribute (an array of them when `is_array`).
    fn check_value(
        &self,
        path: &str,
        attr: &Value,
        v: &Value,
        profiles: &[&str],
        errors: &mut Vec<String>,
    ) {
        if v.is_null() {
            return; // reported by `find_nulls`
        }
        if attr["is_array"] == true {
            match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_scalar(&format!("{path}[{i}]"), attr, item, profiles, errors);
                    }
                }
                None => errors.push(format!("{path}: {} is not an array", show(Some(v)))),
            }
        } else {
            self.check_scalar(path, attr, v, profiles, errors);
        }
    }

    /// Checks one value against the attribute's type and enum.
    fn check_scalar(
        &self,
        path: &str,
        attr: &Value,
        v: &Value,
        profiles: &[&str],
        errors: &mut Vec<String>,
    ) {
        if v.is_null() {
            return; // reported by `find_nulls`
        }
        let ty = attr["type"].as_str().unwrap_or("?");
        let ok = match self.base_type(ty) {
            "string_t" => v.is_string(),
            "integer_t" | "long_t" => v.is_i64() || v.is_u64(),
            "float_t" => v.is_number(),
            "boolean_t" => v.is_boolean(),
            "json_t" => true,
            "object_t" => {
                self.check_nested(path, attr, v, profiles, errors);
                return;
            }
            other => {
                errors.push(format!("{path}: unknown type {other} in the schema"));
                return;
            }
        };
        if !ok {
            errors.push(format!("{path}: {} is not of type {ty}", show(Some(v))));
            return;
        }
        if ty == "ip_t" && v.as_str().and_then(|s| s.parse::<IpAddr>().ok()).is_none() {
            errors.push(format!("{path}: {} is not an IP address", show(Some(v))));
        }
        if let Some(values) = attr.get("enum").and_then(Value::as_object) {
            let key = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !values.contains_key(&key) {
                let mut allowed: Vec<&String> = values.keys().collect();
                allowed.sort();
                errors.push(format!("{path}: {key} is not one of the enum {allowed:?}"));
            }
        }
    }

    /// Checks an `object_t` value: free-form for `object`, else its object's definition.
    fn check_nested(
        &self,
        path: &str,
        attr: &Value,
        v: &Value,
        profiles: &[&str],
        errors: &mut Vec<String>,
    ) {
        let Some(map) = v.as_object() else {
            errors.push(format!("{path}: {} is not an object", show(Some(v))));
            return;
        };
        let name = attr["object_type"].as_str().unwrap_or("?");
        if name == "object" {
            return; // free-form, like `unmapped`
        }
        match self.object(name).and_then(Definition::of) {
            Some(def) => self.check_object(path, &def, map, profiles, errors),
            None => errors.push(format!("{path}: no object {name} in the schema")),
        }
    }
}

/// The `at_least_one` and `just_one` constraints of a class or object.
fn check_constraints(
    path: &str,
    constraints: Option<&Value>,
    value: &Map<String, Value>,
    errors: &mut Vec<String>,
) {
    let Some(constraints) = constraints.and_then(Value::as_object) else {
        return;
    };
    for (kind, names) in constraints {
        let names: Vec<&str> = names
            .as_array()
            .map(|n| n.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let present = names.iter().filter(|n| value.contains_key(**n)).count();
        let list = names.join(", ");
        match kind.as_str() {
            "at_least_one" if present == 0 => {
                errors.push(format!("{path}: at least one of [{list}] required"))
            }
            "just_one" if present != 1 => errors.push(format!(
                "{path}: exactly one of [{list}] required, {present} present"
            )),
            "at_least_one" | "just_one" => {}
            other => errors.push(format!("{path}: unknown constraint {other} in the schema")),
        }
    }
}

/// Reports every JSON `null` under `v`.
fn find_nulls(path: &str, v: &Value, errors: &mut Vec<String>) {
    match v {
        Value::Null => errors.push(format!("{path}: null")),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nulls(&format!("{path}[{i}]"), item, errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                find_nulls(&format!("{path}.{k}"), item, errors);
            }
        }
        _ => {}
    }
}

/// A value for an error message (`absent` when there is none).
fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "absent".into(), Value::to_string)
}
