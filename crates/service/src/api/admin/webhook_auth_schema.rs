//! `WebhookAuth` in the spec: a oneOf of the five modes with a `mode` discriminator, and
//! its parsing, written by hand because poem-openapi's Union derive wraps each variant.

use std::borrow::Cow;

use poem_openapi::registry::{MetaDiscriminatorObject, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

use super::webhooks::*;

/// (`mode` value, schema name) of each variant, in the spec's order.
fn variants() -> [(&'static str, Cow<'static, str>); 5] {
    [
        ("none", NoAuth::name()),
        ("secret", SecretAuth::name()),
        ("customCa", CustomCaAuth::name()),
        ("mtls", MtlsAuth::name()),
        ("oauth2", OAuth2Auth::name()),
    ]
}

impl Type for WebhookAuth {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "WebhookAuth".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(Self::name().into_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(Self::name().into_owned(), |registry| {
            NoAuth::register(registry);
            SecretAuth::register(registry);
            CustomCaAuth::register(registry);
            MtlsAuth::register(registry);
            OAuth2Auth::register(registry);
            MetaSchema {
                description: Some(
                    "How the target authenticates callscribe's POSTs; `mode` says which.",
                ),
                one_of: variants()
                    .iter()
                    .map(|(_, name)| MetaSchemaRef::Reference(name.to_string()))
                    .collect(),
                discriminator: Some(MetaDiscriminatorObject {
                    property_name: "mode",
                    mapping: variants()
                        .iter()
                        .map(|(mode, name)| {
                            (mode.to_string(), format!("#/components/schemas/{name}"))
                        })
                        .collect(),
                }),
                ..MetaSchema::new("object")
            }
        });
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for WebhookAuth {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        let mode = value
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let some = Some(value.clone());
        match mode {
            "none" => NoAuth::parse_from_json(some)
                .map(Self::None)
                .map_err(ParseError::propagate),
            "secret" => SecretAuth::parse_from_json(some)
                .map(Self::Secret)
                .map_err(ParseError::propagate),
            "customCa" => CustomCaAuth::parse_from_json(some)
                .map(Self::CustomCa)
                .map_err(ParseError::propagate),
            "mtls" => MtlsAuth::parse_from_json(some)
                .map(Self::Mtls)
                .map_err(ParseError::propagate),
            "oauth2" => OAuth2Auth::parse_from_json(some)
                .map(Self::Oauth2)
                .map_err(ParseError::propagate),
            _ => Err(ParseError::expected_type(value.clone())),
        }
    }
}

impl ToJSON for WebhookAuth {
    fn to_json(&self) -> Option<Value> {
        match self {
            Self::None(a) => a.to_json(),
            Self::Secret(a) => a.to_json(),
            Self::CustomCa(a) => a.to_json(),
            Self::Mtls(a) => a.to_json(),
            Self::Oauth2(a) => a.to_json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_mode_reads_and_writes_the_contract_json() {
        for body in [
            json!({"mode": "none"}),
            json!({"mode": "secret", "name": "x-token", "in": "query"}),
            json!({"mode": "customCa", "caPem": "PEM"}),
            json!({"mode": "mtls", "clientCertPem": "PEM"}),
            json!({"mode": "oauth2", "tokenUrl": "https://t.example", "clientId": "c", "scopes": []}),
        ] {
            let auth = WebhookAuth::parse_from_json(Some(body.clone())).expect("parses");
            assert_eq!(auth.to_json(), Some(body));
        }
        for bad in [
            json!({"mode": "pigeon"}),
            json!({}),
            json!({"mode": "secret"}),
        ] {
            assert!(WebhookAuth::parse_from_json(Some(bad)).is_err());
        }
    }
}
