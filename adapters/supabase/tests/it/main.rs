//! The Supabase identity against tokens minted here and a JWKS served from 127.0.0.1.

mod config;
mod hs256;
mod jwks;
mod support;
