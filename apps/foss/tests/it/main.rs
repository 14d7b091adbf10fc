//! The mock server's integration tests: spec files with expected exchanges
//! (`tests/cases/*.yml`), and tests of what needs real sockets, time or files.

mod cases;
mod cloud;
mod external;
mod helpers;
mod hosts;
mod import;
mod journal;
mod limits;
mod reload;
mod server;
mod state;
mod webhooks;
mod websocket;
