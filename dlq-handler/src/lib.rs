//! `dlq-handler`: turns the payment processor's dead letters into `PaymentFailed` events that
//! flow back to the order service, so every order ends in exactly one terminal state.
//!
//! # Dataflow
//!
//! ```text
//! payments.dlq ──keyed runtime (per order, in order)──▶ read OrderCreated (registry)
//!   │ unreadable ─────────────────────────────────────▶ kept_dead_letters (never dropped)
//!   ▼
//! payment row ─▶ decide (domain) ─▶ [PENDING with attempts: ask the gateway's ledger — no
//!                                     transaction open]
//!   │ paid / declined / failed meanwhile ─────────────▶ nothing to write
//!   │ charged at the gateway ─────────────────────────▶ kept_dead_letters (replay settles PAID)
//!   ▼
//! ONE transaction: processed_events row (dedupe) + payment → FAILED (inserted if missing)
//!                  + PaymentFailed into the payments outbox ─▶ payments relay ─▶ order-producer
//! ```
//!
//! # Guarantees
//!
//! - **Nothing doubled.** The processed-events row (consumer group + the `OrderCreated` event
//!   id) commits with the failure: a redelivered dead letter is a no-op. The payment leaves
//!   PENDING/EXPIRED at most once (`UPDATE … WHERE status IN (…)`), the same guard the
//!   processor's settlement uses, so an order gets either its PaymentCompleted or one
//!   PaymentFailed, never both; a FAILED payment is never charged by a later delivery.
//! - **Nothing lost.** A record's offset is committed only after its transaction (or keep)
//!   committed; database, registry or ledger outages are retried in place; a crash redelivers.
//!   A dead letter that cannot become a failure is kept with every byte and header, counted
//!   (`dlq_handler_kept_dead_letters`) and logged at error level.
//! - **No wrong failure.** An order whose payment may have reached the gateway is failed only
//!   after the gateway's ledger says it holds no charge for its key.

pub mod application;
pub mod config;
pub mod domain;
pub mod infrastructure;
