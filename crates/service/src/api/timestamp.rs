//! `Timestamp`: a UTC time as the contract writes it (`2026-11-23T10:00:03.968Z`),
//! published as `format: date-time` so generated clients hand out a date type.
//!
//! poem-openapi's own `DateTime<Utc>` would also say `date-time`, but renders
//! `+00:00` and every fraction digit; the contract fixes the spelling, so the text is
//! made once here and sent as is.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// An RFC 3339 UTC time with a `Z` suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp(String);

impl Timestamp {
    /// `time` with whole seconds or milliseconds, as the field's contract says.
    pub fn new(time: DateTime<Utc>, precision: SecondsFormat) -> Self {
        Timestamp(time.to_rfc3339_opts(precision, true))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// For examples: the text must already be an RFC 3339 UTC time.
impl From<&str> for Timestamp {
    fn from(text: &str) -> Self {
        Timestamp(text.to_owned())
    }
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        match value.as_str().map(DateTime::parse_from_rfc3339) {
            Some(Ok(_)) => Ok(Timestamp(value.as_str().unwrap_or_default().to_owned())),
            _ => Err(ParseError::expected_type(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_contract_spelling() {
        let t: DateTime<Utc> = "2026-11-23T10:00:03.968123Z".parse().unwrap();
        assert_eq!(
            Timestamp::new(t, SecondsFormat::Millis).to_json(),
            Some(Value::from("2026-11-23T10:00:03.968Z"))
        );
        assert_eq!(
            Timestamp::new(t, SecondsFormat::Secs).as_str(),
            "2026-11-23T10:00:03Z"
        );
        assert!(Timestamp::parse_from_json(Some(Value::from("yesterday"))).is_err());
    }
}
