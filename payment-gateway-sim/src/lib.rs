//! # payment-gateway-sim
//!
//! A Stripe-like payment gateway for tests, benchmarks and the demo: a real HTTP service with
//! a durable ledger in its own Postgres database, whose latency and faults can be changed at
//! run time.
//!
//! ## Dataflow
//!
//! ```text
//! POST /v1/charges ─► validate (domain) ─► decide outcome from behaviour + random draws (domain)
//!   ─► wait latency + jitter ─► 503 now (outage / transient failure: nothing recorded)
//!                             └► INSERT … ON CONFLICT (idempotency_key) DO NOTHING (ledger)
//!                                  ├ inserted: answer 201 / 402 (after timeout_delay if a
//!                                  │           timeout was drawn: charged, answer late)
//!                                  └ key taken: read the winner; same parameters → replay it
//!                                              (same status and body, `replayed: true`,
//!                                              `Idempotent-Replayed: true`); else 409
//! ```
//!
//! ## Guarantees
//!
//! - **One charge per idempotency key**, also under concurrent requests: the ledger's UNIQUE
//!   key lets exactly one INSERT win; every other request replays the winner's result.
//! - **A 503 means nothing was charged**: outage, transient failures and an unreachable ledger
//!   are all decided or detected before a row is committed. The one case where the charge
//!   exists but the answer is late is the timeout fault, deliberately: it is what clients
//!   must survive by retrying with the same key.
//! - **Declines are recorded** too, so a retry replays the decline instead of trying again.
//! - **Durability**: with `--synchronous-commit off` (default) a crash of the Postgres
//!   *server* can lose the last few hundred milliseconds of ledger rows; a crash of the
//!   simulator loses nothing it answered. `on` makes every answered charge durable.
//!
//! Layout: [`domain`] (pure decisions), [`application`] (use cases over the ledger port),
//! [`infrastructure`] (Postgres ledger, axum HTTP, metrics), [`config`] (flags), [`ops`]
//! (the shared operational runtime: logs, shutdown, `/healthz`, `/readyz`, `/metrics`).

pub mod application;
pub mod config;
pub mod domain;
pub mod infrastructure;
pub mod ops;
