//! `Language`: the BCP-47 code of a call's language, published as an enum of the codes
//! callscribe transcribes ([`crate::transcribe::language::SUPPORTED`], the one list), so
//! generated clients offer exactly those. A code outside it is refused by the request's
//! schema check with `400-03`, as the contract says.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

use crate::transcribe::language::SUPPORTED;

const NAME: &str = "Language";

/// A supported language code, e.g. `en-US`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(pub String);

impl Type for Language {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(NAME.into())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(NAME.into(), |_| MetaSchema {
            description: Some(
                "BCP-47 language of the call (default `en-US`). Spanish calls are \
                 transcribed by Whisper base whatever the tenant's engine, and redaction \
                 reads Spanish number and cue words. Any other code is refused with 400-03.",
            ),
            enum_items: SUPPORTED
                .iter()
                .map(|l| Value::String(l.code.into()))
                .collect(),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for Language {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// Any string parses: the request's schema check has already refused codes outside the
/// enum with the contract's code, and start-streaming looks the code up again.
impl ParseFromJSON for Language {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(code)) => Ok(Language(code)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}
