//! Fakes of third-party HTTP APIs, served on loopback for adapter tests. Each follows its
//! provider's documented request and response shapes, pagination, error bodies and rate
//! limits, and refuses what the real API refuses.

pub mod cloudflare;
pub mod digitalocean;
