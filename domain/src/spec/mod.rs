//! The moclojer spec model: parsing (YAML, EDN, OpenAPI + mocks) and validation. (Being built.)
