//! `JsonBody<T>`: a JSON request body checked against its own published schema.
//!
//! poem-openapi's `Json<T>` refuses a body with messages naming Rust types
//! (`optional_AutotranscribeParams`) rather than the field at fault, and coerces some
//! wrong types (a number where a string belongs). `JsonBody<T>` first checks the body
//! against `T`'s schema exactly as the spec documents it, so a refusal names the field
//! as the docs do ("field `amazonConnectParams.streamArn` is required") and refuses
//! exactly what the docs call wrong; then poem-openapi parses it as usual. It is a
//! request extractor, so it runs after the security scheme (401/429 come first).

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type.parse::<mime::Mime>().is_ok_and(|m| {
            m.type_() == "application"
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON + 'static> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value = parse_checked::<T>(&data)
            .map_err(|problem| ApiError::new(problem.code(), problem.to_string()))?;
        T::parse_from_json(Some(value)).map(JsonBody).map_err(|e| {
            poem_openapi::error::ParseRequestPayloadError {
                reason: e.into_message(),
            }
            .into()
        })
    }
}

impl<'a, T: ParseFromJSON + 'static> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: Self::CONTENT_TYPE,
                schema: Self::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(poem_openapi::error::ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(poem_openapi::error::ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// The body as JSON, or why it does not fit `T`'s schema.
fn parse_checked<T: Type + 'static>(body: &[u8]) -> Result<Value, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::whole("is empty; send a JSON object".into()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Problem::whole(format!("is not valid JSON: {e}")))?;
    let schema = schema_of::<T>();
    let checker = Checker {
        components: &schema.components,
    };
    match checker.check(&schema.root, &value, "") {
        Some(problem) => Err(problem),
        None => Ok(value),
    }
}

/// A type's schema as the spec shows it: its root and every schema it refers to.
struct SchemaDoc {
    root: Value,
    components: Value,
}

/// Built once per type from poem-openapi's registry (the same source as the spec).
fn schema_of<T: Type + 'static>() -> Arc<SchemaDoc> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<SchemaDoc>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(TypeId::of::<T>())
        .or_insert_with(|| {
            let mut registry = Registry::new();
            T::register(&mut registry);
            Arc::new(SchemaDoc {
                root: serde_json::to_value(T::schema_ref()).unwrap_or_default(),
                components: serde_json::to_value(&registry.schemas).unwrap_or_default(),
            })
        })
        .clone()
}

/// Walks a JSON value against a schema; reports the first mismatch by field path.
struct Checker<'a> {
    components: &'a Value,
}

impl Checker<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        {
            Some(name) => &self.components[name],
            None => schema,
        }
    }

    /// The first mismatch between `value` and `schema`, described at `path`.
    fn check(&self, schema: &Value, value: &Value, path: &str) -> Option<Problem> {
        let schema = self.resolve(schema);
        if let Some(parts) = schema["allOf"].as_array() {
            return parts.iter().find_map(|part| self.check(part, value, path));
        }
        if let Some(discriminator) = schema["discriminator"].as_object() {
            return self.check_union(discriminator, value, path);
        }
        let ty = schema["type"].as_str().unwrap_or("");
        let fits = match ty {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            _ => true,
        };
        if !fits {
            let what = if ty == "object" {
                "a JSON object".to_owned()
            } else {
                article(ty)
            };
            return Some(Problem::at(path, format!("must be {what}")));
        }
        match value {
            Value::Object(fields) => self.check_object(schema, fields, path),
            Value::String(s) => check_string(schema, s, path),
            Value::Number(n) => check_number(schema, n.as_f64().unwrap_or(0.0), path),
            Value::Array(items) => self.check_array(schema, items, path),
            _ => None,
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        fields: &serde_json::Map<String, Value>,
        path: &str,
    ) -> Option<Problem> {
        for required in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if fields.get(required).is_none_or(Value::is_null) {
                return Some(Problem::at(&join(path, required), "is required".into()));
            }
        }
        let properties = schema["properties"].as_object()?;
        fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .find_map(|(key, v)| {
                properties
                    .get(key)
                    .and_then(|property| self.check(property, v, &join(path, key)))
            })
    }

    fn check_array(&self, schema: &Value, items: &[Value], path: &str) -> Option<Problem> {
        if let Some(max) = schema["maxItems"]
            .as_u64()
            .filter(|&m| items.len() as u64 > m)
        {
            return Some(Problem::at(path, format!("must have at most {max} items")));
        }
        if let Some(min) = schema["minItems"]
            .as_u64()
            .filter(|&m| (items.len() as u64) < m)
        {
            return Some(Problem::at(path, format!("must have at least {min} items")));
        }
        items
            .iter()
            .enumerate()
            .find_map(|(i, item)| self.check(&schema["items"], item, &format!("{path}[{i}]")))
    }

    fn check_union(
        &self,
        discriminator: &serde_json::Map<String, Value>,
        value: &Value,
        path: &str,
    ) -> Option<Problem> {
        let property = discriminator.get("propertyName")?.as_str()?;
        let mapping = discriminator.get("mapping")?.as_object()?;
        let field = join(path, property);
        let Some(object) = value.as_object() else {
            return Some(Problem::at(path, "must be a JSON object".into()));
        };
        let options = mapping
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let Some(tag) = object.get(property).and_then(Value::as_str) else {
            return Some(Problem::at(
                &field,
                format!("is required: one of {options}"),
            ));
        };
        let Some(target) = mapping.get(tag) else {
            return Some(Problem::at(&field, format!("must be one of {options}")));
        };
        self.check(&serde_json::json!({"$ref": target}), value, path)
    }
}

fn check_string(schema: &Value, s: &str, path: &str) -> Option<Problem> {
    if let Some(options) = schema["enum"]
        .as_array()
        .filter(|o| !o.iter().any(|o| o == s))
    {
        let options: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
        return Some(Problem {
            field: path.to_owned(),
            what: format!("must be one of {}", options.join(", ")),
            unlisted: true,
        });
    }
    let len = s.chars().count() as u64;
    if let Some(max) = schema["maxLength"].as_u64().filter(|&m| len > m) {
        return Some(Problem::at(
            path,
            format!("must be at most {max} characters"),
        ));
    }
    if let Some(min) = schema["minLength"].as_u64().filter(|&m| len < m) {
        return Some(Problem::at(
            path,
            format!("must be at least {min} characters"),
        ));
    }
    if let Some(pattern) = schema["pattern"].as_str().filter(|p| !matches(p, s)) {
        return Some(Problem::at(path, format!("must match `{pattern}`")));
    }
    None
}

/// Whether `s` matches a schema's `pattern` (compiled once per pattern; the patterns
/// are the spec's own, so one that does not compile is a bug, and fails every value).
fn matches(pattern: &str, s: &str) -> bool {
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    compiled
        .entry(pattern.to_owned())
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

fn check_number(schema: &Value, n: f64, path: &str) -> Option<Problem> {
    if let Some(max) = schema["maximum"].as_f64().filter(|&m| n > m) {
        return Some(Problem::at(path, format!("must be at most {max}")));
    }
    if let Some(min) = schema["minimum"].as_f64().filter(|&m| n < m) {
        return Some(Problem::at(path, format!("must be at least {min}")));
    }
    None
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Why a body does not fit its schema: the field at fault (a dotted path; empty for the
/// body itself) and what is wrong with it.
#[derive(Debug)]
struct Problem {
    field: String,
    what: String,
    /// A value outside the field's `enum`.
    unlisted: bool,
}

impl Problem {
    fn whole(what: String) -> Problem {
        Problem::at("", what)
    }

    fn at(field: &str, what: String) -> Problem {
        Problem {
            field: field.to_owned(),
            what,
            unlisted: false,
        }
    }

    /// The contract gives a value outside the listed namespaces or languages a code of its
    /// own; every other mismatch is `400-01`.
    fn code(&self) -> ErrorCode {
        match self.field.as_str() {
            "namespace" if self.unlisted => ErrorCode::UnsupportedNamespace,
            "autotranscribeParams.language" if self.unlisted => ErrorCode::UnsupportedLanguage,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", name(&self.field), self.what)
    }
}

fn name(path: &str) -> String {
    if path.is_empty() {
        "the request body".to_owned()
    } else {
        format!("field `{path}`")
    }
}

fn article(ty: &str) -> String {
    match ty {
        "integer" => "an integer".into(),
        "array" => "an array".into(),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::{Object, Union};

    use super::*;

    #[derive(Object)]
    struct Thing {
        #[oai(validator(max_length = 3))]
        name: String,
        kind: Option<Kind>,
        #[oai(validator(minimum(value = "1")))]
        count: Option<u32>,
        inner: Inner,
        auth: Option<Auth>,
        #[oai(validator(pattern = "^[a-z]{2}$"))]
        code: Option<String>,
    }

    #[derive(poem_openapi::Enum)]
    enum Kind {
        A,
        B,
    }

    #[derive(Object)]
    struct Inner {
        flag: bool,
    }

    #[derive(Union)]
    #[oai(discriminator_name = "mode")]
    enum Auth {
        #[oai(mapping = "inner")]
        Inner(Inner),
    }

    fn problem(body: &str) -> String {
        parse_checked::<Thing>(body.as_bytes())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(
            problem(r#"{"inner": {"flag": true}}"#),
            "field `name` is required"
        );
        assert_eq!(
            problem(r#"{"name": "a", "inner": {}}"#),
            "field `inner.flag` is required"
        );
        assert_eq!(
            problem(r#"{"name": 7, "inner": {"flag": true}}"#),
            "field `name` must be a string"
        );
        assert_eq!(
            problem(r#"{"name": "abcd", "inner": {"flag": true}}"#),
            "field `name` must be at most 3 characters"
        );
        assert_eq!(
            problem(r#"{"name": "a", "kind": "C", "inner": {"flag": true}}"#),
            "field `kind` must be one of A, B"
        );
        assert_eq!(
            problem(r#"{"name": "a", "count": 0, "inner": {"flag": true}}"#),
            "field `count` must be at least 1"
        );
        assert_eq!(
            problem(r#"{"name": "a", "count": 1.5, "inner": {"flag": true}}"#),
            "field `count` must be an integer"
        );
        assert_eq!(
            problem(r#"{"name": "a", "inner": {"flag": true}, "auth": {"mode": "x"}}"#),
            "field `auth.mode` must be one of inner"
        );
        assert_eq!(
            problem(r#"{"name": "a", "inner": {"flag": true}, "auth": {"mode": "inner"}}"#),
            "field `auth.flag` is required"
        );
    }

    #[test]
    fn checks_patterns() {
        assert_eq!(
            problem(r#"{"name": "a", "inner": {"flag": true}, "code": "abc"}"#),
            "field `code` must match `^[a-z]{2}$`"
        );
        assert!(
            parse_checked::<Thing>(br#"{"name": "a", "inner": {"flag": true}, "code": "ab"}"#)
                .is_ok()
        );
    }

    #[test]
    fn unlisted_namespaces_and_languages_have_codes_of_their_own() {
        let unlisted = |field: &str| Problem {
            field: field.into(),
            what: "must be one of x".into(),
            unlisted: true,
        };
        assert_eq!(
            unlisted("namespace").code(),
            ErrorCode::UnsupportedNamespace
        );
        assert_eq!(
            unlisted("autotranscribeParams.language").code(),
            ErrorCode::UnsupportedLanguage
        );
        assert_eq!(unlisted("kind").code(), ErrorCode::InvalidRequest);
        let missing = Problem::at("namespace", "is required".into());
        assert_eq!(missing.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn explains_bodies_that_are_not_json_objects() {
        assert_eq!(problem(""), "the request body is empty; send a JSON object");
        assert!(problem("{").starts_with("the request body is not valid JSON"));
        assert_eq!(problem("[]"), "the request body must be a JSON object");
        assert!(
            parse_checked::<Thing>(br#"{"name": "a", "kind": null, "inner": {"flag": true}}"#)
                .is_ok()
        );
    }
}
