//! Import and export: an OpenAPI document or an EDN spec turned into moclojer YAML (stored
//! nowhere: the caller makes or edits a mock with it), and a mock's content given back as
//! it is stored or described as OpenAPI.
//!
//! - `POST /api/v1/mocks/import[?format=openapi|edn]`: the document is the raw request
//!   body (any content type), at most 1 MiB; without `format` it is sniffed
//!   ([`ImportFormat::sniff`]). 200 `{"content", "format", "diagnostics"}`; 422 with the
//!   diagnostics, positioned in the uploaded document; 413 past 1 MiB.
//! - `GET /api/v1/mocks/{id}/export[?format=yaml|openapi]`: `yaml` (the default) is the
//!   content as stored, `text/yaml; charset=utf-8`; `openapi` an OpenAPI 3.0.3 document,
//!   `application/json` ([`export_openapi`]).

use std::sync::Arc;

use moclojer_domain::MAX_SPEC_BYTES;
use moclojer_domain::spec::{self, ExportInfo, ImportFormat, export_openapi};
use poem::http::StatusCode;
use poem::{IntoResponse, Request, RequestBody, Response};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::registry::{
    MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
};
use serde_json::Value;

use super::Tag;
use crate::error::{ApiError, ApiResult, diagnostics_json};
use crate::state::{BearerToken, State};

/// The largest document `POST /mocks/import` takes: 1 MiB, as a mock's content.
pub const MAX_IMPORT_BYTES: usize = MAX_SPEC_BYTES;

/// Import and export.
#[derive(Debug, Clone)]
pub struct TransferApi(pub Arc<State>);

/// What an import made.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct ImportReply {
    /// The moclojer YAML, to make or edit a mock with.
    pub content: String,
    /// What the document was read as: `openapi` or `edn`.
    pub format: String,
    /// Warnings: `line`, `column` (in the uploaded document), `message`, `severity`, and
    /// `item`/`key` when known.
    pub diagnostics: Value,
}

/// The document to import: the request body as it is, whatever its content type.
#[derive(Debug)]
pub struct ImportDocument(pub Vec<u8>);

fn text_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
}

impl<'a> ApiExtractor<'a> for ImportDocument {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let media = |content_type| MetaMediaType {
            content_type,
            schema: text_schema(),
        };
        Some(MetaRequest {
            description: Some(
                "An OpenAPI 3.x or Swagger 2.0 document (YAML or JSON), or an EDN moclojer \
                 spec, at most 1 MiB; any content type is taken.",
            ),
            content: vec![
                media("application/yaml"),
                media("application/json"),
                media("application/edn"),
                media("text/plain"),
            ],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_vec().await?;
        Ok(Self(bytes))
    }
}

/// An export: the stored YAML, or an OpenAPI document.
#[derive(Debug)]
pub enum Exported {
    /// `text/yaml; charset=utf-8`.
    Yaml(String),
    /// `application/json`.
    OpenApi(Value),
}

const YAML_CONTENT_TYPE: &str = "text/yaml; charset=utf-8";

impl IntoResponse for Exported {
    fn into_response(self) -> Response {
        match self {
            Self::Yaml(text) => Response::builder()
                .status(StatusCode::OK)
                .content_type(YAML_CONTENT_TYPE)
                .body(text),
            Self::OpenApi(document) => Response::builder()
                .status(StatusCode::OK)
                .content_type("application/json")
                .body(document.to_string()),
        }
    }
}

impl ApiResponse for Exported {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The mock's content as stored (`format=yaml`), or an OpenAPI 3.0.3 \
                              document describing its endpoints (`format=openapi`).",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: YAML_CONTENT_TYPE,
                        schema: text_schema(),
                    },
                    MetaMediaType {
                        content_type: "application/json",
                        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("object"))),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// The `format` of an import.
fn import_format(raw: Option<&str>) -> ApiResult<Option<ImportFormat>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(name) => ImportFormat::parse(name).map(Some).ok_or_else(|| {
            ApiError::bad_field(
                "format",
                format!("`{name}` is not a format: openapi or edn"),
            )
        }),
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl TransferApi {
    /// Turns an OpenAPI 3.x / Swagger 2.0 document (YAML or JSON) or an EDN moclojer spec,
    /// sent as the raw body, into moclojer YAML; nothing is stored. `format` is `openapi`
    /// or `edn`; without it, text that begins with a `;` comment or with `{:` is EDN, and
    /// anything else OpenAPI. Every operation becomes an endpoint answering its first
    /// success response, with the document's example or one generated from its schema.
    /// 422 with diagnostics positioned in the document when it cannot be imported.
    #[oai(path = "/mocks/import", method = "post", tag = "Tag::Mocks")]
    async fn import(
        &self,
        auth: BearerToken,
        format: Query<Option<String>>,
        document: ImportDocument,
    ) -> ApiResult<Json<ImportReply>> {
        let state = &self.0;
        state.caller(&auth).await?;
        let format = import_format(format.0.as_deref())?;
        if document.0.len() > MAX_IMPORT_BYTES {
            return Err(ApiError::too_large(format!(
                "the document has {} bytes; at most {MAX_IMPORT_BYTES} are imported",
                document.0.len()
            )));
        }
        let text = String::from_utf8(document.0)
            .map_err(|_| ApiError::bad_request("bad_request", "the document is not UTF-8 text"))?;
        let limits = spec::Limits {
            max_bytes: MAX_IMPORT_BYTES,
            ..state.limits
        };
        let imported = spec::import(&text, format, &limits)
            .map_err(|diagnostics| ApiError::invalid_spec(&diagnostics))?;
        Ok(Json(ImportReply {
            content: imported.content,
            format: imported.format.as_str().to_owned(),
            diagnostics: diagnostics_json(&imported.diagnostics),
        }))
    }

    /// A mock's content: `format=yaml` (the default) as stored, `text/yaml`;
    /// `format=openapi` an OpenAPI 3.0.3 document of its endpoints (`:id` → `{id}`, typed
    /// parameters, declared query parameters, one example response per endpoint; rules are
    /// left out), whose `info.title` is the mock's name.
    #[oai(path = "/mocks/:id/export", method = "get", tag = "Tag::Mocks")]
    async fn export(
        &self,
        auth: BearerToken,
        id: Path<String>,
        format: Query<Option<String>>,
    ) -> ApiResult<Exported> {
        let state = &self.0;
        let user = state.caller(&auth).await?;
        let mock = state.mock(&user, &id.0).await?;
        match format.0.as_deref().map(str::trim) {
            None | Some("" | "yaml") => Ok(Exported::Yaml(mock.content.as_str().to_owned())),
            Some("openapi") => {
                let parsed = spec::parse_yaml(mock.content.as_str(), &state.limits)
                    .map_err(|diagnostics| ApiError::invalid_spec(&diagnostics))?;
                let url = state.mocks_url.of(mock.host.as_str());
                let version = mock.revision.to_string();
                let info = ExportInfo {
                    title: mock.name.as_str(),
                    version: &version,
                    server_url: Some(&url),
                };
                Ok(Exported::OpenApi(export_openapi(&parsed, &info)))
            }
            Some(other) => Err(ApiError::bad_field(
                "format",
                format!("`{other}` is not a format: yaml or openapi"),
            )),
        }
    }
}
