//! Start-up registration of the schemas a service writes, so that no request ever waits on
//! the schema registry while it holds a database transaction.
//!
//! A service lists the events it encodes ([`WriterSchema::of`]) and, at start-up, spawns
//! [`register_until_done`]: it asks the registry until every schema has an id, backing off
//! between attempts while the registry is unreachable (or rejects a schema: that needs an
//! operator, and is logged as an error at each attempt). Meanwhile the service runs and reports
//! not ready ([`readiness`]). Once the ids are cached, encoding ([`AvroCodec::encode_registered`])
//! needs no network, so a later registry outage does not affect writers at all.
//!
//! A request that finds a schema not registered yet (the registry was down since start-up, or a
//! new event type) registers it before its transaction opens and fails fast with a transient
//! error if the registry does not answer (see the codec's failure hold): nothing waits on the
//! network with a pooled connection or a lock in hand.

use crate::codec::{AvroCodec, WriterSchema};
use crate::error::ErrorKind;
use service_kit::ReadinessCheck;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First pause between attempts; doubled up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Longest pause between attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Register `schemas` until every one has an id; `false` if `cancel` fired first.
pub async fn register_until_done(
    codec: &AvroCodec,
    schemas: &[WriterSchema],
    cancel: &CancellationToken,
) -> bool {
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempt = 1u32;
    loop {
        let outcome = tokio::select! {
            () = cancel.cancelled() => return false,
            outcome = codec.register_all(schemas) => outcome,
        };
        match outcome {
            Ok(()) => {
                if attempt > 1 {
                    tracing::info!(attempt, "writer schemas registered; ready to encode");
                }
                return true;
            }
            Err(e) if e.kind() == ErrorKind::Transient => tracing::warn!(
                error = %e,
                attempt,
                retry_in = ?delay,
                missing = ?codec.unregistered(schemas),
                "schema registry unavailable; not ready until the writer schemas are registered"
            ),
            Err(e) => tracing::error!(
                error = %e,
                attempt,
                retry_in = ?delay,
                missing = ?codec.unregistered(schemas),
                "the schema registry rejected a writer schema; not ready until an operator fixes it"
            ),
        }
        tokio::select! {
            () = cancel.cancelled() => return false,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RETRY_DELAY);
        attempt += 1;
    }
}

/// [`register_until_done`] as a background task (what a service's `main` starts).
pub fn spawn_registration(
    codec: &AvroCodec,
    schemas: Vec<WriterSchema>,
    cancel: &CancellationToken,
) -> tokio::task::JoinHandle<bool> {
    let (codec, cancel) = (codec.clone(), cancel.clone());
    tokio::spawn(async move { register_until_done(&codec, &schemas, &cancel).await })
}

/// Ready once every schema of `schemas` has a cached id (no network call: the probe reads the
/// cache that [`register_until_done`] fills).
pub fn readiness(codec: AvroCodec, schemas: Vec<WriterSchema>) -> ReadinessCheck {
    let schemas: Arc<[WriterSchema]> = schemas.into();
    Arc::new(move || {
        let missing = codec.unregistered(&schemas);
        Box::pin(async move {
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "schema registry: writer schemas not registered yet: {}",
                    missing.join(", ")
                ))
            }
        })
    })
}
