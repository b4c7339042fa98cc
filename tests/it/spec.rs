//! The checked-in spec is the contract for generated SDKs: it must match the code, and
//! every operation must be documented well enough to generate a usable client.

use serde_json::Value;

use crate::helpers::{body, spawn_app};

#[tokio::test]
async fn checked_in_spec_matches_the_generated_one() {
    let app = spawn_app().await;
    let generated = callscribe::api::spec_json(app.state.clone());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let checked_in = std::fs::read_to_string(path).expect("openapi/openapi.json exists");
    assert!(
        generated.trim_end() == checked_in.trim_end(),
        "openapi/openapi.json is stale: run `cargo run -- openapi --output openapi/openapi.json` and commit it"
    );
}

#[tokio::test]
async fn served_spec_is_the_generated_one() {
    let app = spawn_app().await;
    let served = body(app.get("/openapi.json").await).await;
    let generated: Value =
        serde_json::from_str(&callscribe::api::spec_json(app.state.clone())).unwrap();
    assert_eq!(served, generated);
}

#[tokio::test]
async fn every_operation_is_documented_with_errors_and_security() {
    let app = spawn_app().await;
    let spec: Value = serde_json::from_str(&callscribe::api::spec_json(app.state.clone())).unwrap();
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let name = format!("{method} {path}");
            assert!(op["operationId"].is_string(), "{name}: operationId");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: summary"
            );
            assert!(
                op["description"].as_str().is_some_and(|s| s.len() > 20),
                "{name}: description"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{name}: success response"
            );
            let public = path.starts_with("/mg-autotranscribe")
                || path.starts_with("/conversation")
                || path.starts_with("/fileexporter/v1/static");
            let admin = path.starts_with("/admin");
            if public || admin {
                assert!(responses.contains_key("401"), "{name}: documents 401");
                assert!(responses.contains_key("500"), "{name}: documents 500");
                let scheme = if public { "ApiKey" } else { "AdminToken" };
                assert_eq!(
                    op["security"][0]
                        .as_object()
                        .unwrap()
                        .keys()
                        .next()
                        .unwrap(),
                    scheme,
                    "{name}: security"
                );
            }
            if public {
                assert!(responses.contains_key("429"), "{name}: documents 429");
            }
            if public || admin {
                // Every route is under the request timeout (503-02).
                assert!(responses.contains_key("503"), "{name}: documents 503");
            }
            for (status, resp) in responses {
                assert!(
                    resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{name} {status}: description"
                );
                assert!(
                    resp["headers"]["X-REQUEST-ID"].is_object(),
                    "{name} {status}: x-request-id header"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &resp["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{name} {status}: error schema"
                    );
                }
            }
        }
    }
    assert!(
        operations >= 20,
        "expected the whole contract, found {operations} operations"
    );
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in [
        "StartStreamingRequest",
        "StopStreamingRequest",
        "StreamingResponse",
        "MessagesResponse",
        "FeedFileRequest",
        "FeedFileLink",
        "CreateTenantRequest",
        "Tenant",
        "CreateKeyRequest",
        "CreatedKey",
        "TenantAws",
        "WebhookTarget",
        "ErrorBody",
        "TranscriptEvent",
        "FeedLine",
    ] {
        assert!(
            schemas[name]["example"].is_object(),
            "{name} has an example"
        );
    }
    assert!(
        schemas
            .keys()
            .all(|k| !k.contains("Object") && !k.contains('<')),
        "generated-looking schema names"
    );
}

/// The webhook POST is in the spec (`x-webhooks`: 3.1's `webhooks`, as an extension a 3.0
/// document may carry) with its headers and a named body, and so is the feed's line, which
/// no operation returns.
#[tokio::test]
async fn deliveries_and_feed_lines_are_described() {
    let app = spawn_app().await;
    let spec: Value = serde_json::from_str(&callscribe::api::spec_json(app.state.clone())).unwrap();
    assert!(
        spec.get("webhooks").is_none(),
        "an OpenAPI 3.0 document has no webhooks field"
    );
    let delivery = &spec["x-webhooks"]["transcript"]["post"];
    assert_eq!(
        delivery["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/TranscriptEvent"
    );
    let headers: Vec<&str> = delivery["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "header" && p["required"] == true)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(headers.contains(&header), "{header} in {headers:?}");
    }
    let schemas = &spec["components"]["schemas"];
    let required = |name: &str| schemas[name]["required"].clone();
    assert_eq!(
        required("TranscriptEvent"),
        serde_json::json!([
            "type",
            "externalConversationId",
            "streamId",
            "sender",
            "autotranscribeResponse"
        ])
    );
    assert_eq!(
        required("FeedLine"),
        serde_json::json!([
            "conversationId",
            "messageId",
            "streamId",
            "sequence",
            "sender",
            "start",
            "end",
            "text",
            "createdTimestamp"
        ])
    );
    assert_eq!(
        schemas["TranscriptResult"]["properties"]["utterance"]["maxItems"],
        1
    );
}

/// What the SDK generators (scripts/generate-sdks) need to produce idiomatic clients.
#[tokio::test]
async fn spec_shapes_generate_idiomatic_clients() {
    let app = spawn_app().await;
    let spec: Value = serde_json::from_str(&callscribe::api::spec_json(app.state.clone())).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        // poem-openapi's union wrappers (`WebhookAuth_NoAuth`) become extra classes.
        assert!(!name.contains('_'), "{name}: wrapper schema name");
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            // A doc comment on a field of a named type wraps it in allOf, which
            // openapi-python-client cannot take for enums (it drops the whole schema)
            // and turns into a new anonymous class for objects: document the type.
            assert!(
                property.get("allOf").is_none(),
                "{name}.{field}: allOf-wrapped reference"
            );
            // Enums are named schemas, not anonymous inline lists.
            assert!(
                property.get("enum").is_none() && property["items"].get("enum").is_none(),
                "{name}.{field}: inline enum"
            );
        }
    }
    // The webhook auth is a oneOf the generated clients decode by `mode`.
    let auth = &schemas["WebhookAuth"];
    let mapping = auth["discriminator"]["mapping"].as_object().unwrap();
    assert_eq!(auth["discriminator"]["propertyName"], "mode");
    assert_eq!(auth["oneOf"].as_array().unwrap().len(), mapping.len());
    for (mode, target) in mapping {
        let variant = target.as_str().unwrap().rsplit('/').next().unwrap();
        let required = schemas[variant]["required"].as_array().unwrap();
        assert!(required.contains(&Value::from("mode")), "{variant}: mode");
        let mode_type = schemas[variant]["properties"]["mode"]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert_eq!(schemas[mode_type]["enum"], serde_json::json!([mode]));
    }
    // Values with a fixed set of spellings are enums; times are date-times.
    for (schema, field, ty) in [
        ("Delivery", "outcome", "DeliveryOutcome"),
        ("AuditRecord", "kind", "AuditKind"),
        ("Health", "status", "HealthStatus"),
        ("ParticipantStream", "summary", "StreamSummary"),
        (
            "AmazonConnectParams",
            "startSelectorType",
            "StartSelectorType",
        ),
        ("AutotranscribeParams", "redactionOutput", "RedactionOutput"),
        ("AutotranscribeParams", "language", "Language"),
        ("StartStreamingRequest", "namespace", "Namespace"),
        ("TranscriptEvent", "type", "TranscriptKind"),
        ("TranscriptEvent", "sender", "Sender"),
        ("FeedLine", "sender", "Sender"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["$ref"],
            format!("#/components/schemas/{ty}"),
            "{schema}.{field}"
        );
    }
    for (schema, field) in [
        ("MessageItem", "createdTimestamp"),
        ("FeedFileLink", "expiresAt"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["format"], "date-time",
            "{schema}.{field}"
        );
    }
}

#[tokio::test]
async fn interactive_docs_are_served() {
    let app = spawn_app().await;
    let res = app.get("/docs").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("SwaggerUIBundle"), "swagger UI page");
    // Standards mode, our title, and an inline icon (no /favicon.ico 404 in the console).
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "doctype"
    );
    assert!(
        html.contains("<title>callscribe API reference</title>"),
        "title"
    );
    assert!(html.contains("<link rel=\"icon\" href=\"data:,\">"), "icon");
    // Everything inline: no script, style or image is fetched from anywhere.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attr), "the page loads {attr}…");
    }
    assert_eq!(app.get("/docs/").await.status(), 200, "/docs/ too");
}
