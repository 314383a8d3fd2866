//! Every metric of the simulator, defined once: `payment_gateway_sim_<thing>_<unit>`.

use std::time::Duration;

/// Charges answered, by `outcome`: succeeded, declined, replayed, key_reused, outage,
/// unavailable, invalid, ledger_unavailable, ledger_failed.
pub const CHARGES_TOTAL: &str = "payment_gateway_sim_charges_total";
/// Time from request to answer of each API route (including simulated latency), by `route`.
pub const REQUEST_DURATION_SECONDS: &str = "payment_gateway_sim_request_duration_seconds";
/// Time of each ledger statement, by `query`.
pub const LEDGER_QUERY_DURATION_SECONDS: &str = "payment_gateway_sim_ledger_query_duration_seconds";
/// Ledger statements that failed, by `query`.
pub const LEDGER_QUERY_ERRORS_TOTAL: &str = "payment_gateway_sim_ledger_query_errors_total";

/// Register the HELP text of every metric (call once at start-up, after installing a recorder).
pub fn describe_metrics() {
    metrics::describe_counter!(
        CHARGES_TOTAL,
        "Charge requests answered by the simulated gateway, by outcome"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time from request to answer per API route, including simulated latency and timeouts"
    );
    metrics::describe_histogram!(
        LEDGER_QUERY_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Duration of each ledger statement, including waiting for a pooled connection"
    );
    metrics::describe_counter!(
        LEDGER_QUERY_ERRORS_TOTAL,
        "Ledger statements that failed, by query"
    );
}

pub fn count_charge(outcome: &'static str) {
    metrics::counter!(CHARGES_TOTAL, "outcome" => outcome).increment(1);
}

pub fn observe_request(route: &'static str, elapsed: Duration) {
    metrics::histogram!(REQUEST_DURATION_SECONDS, "route" => route).record(elapsed.as_secs_f64());
}

pub fn observe_query(query: &'static str, elapsed: Duration, ok: bool) {
    metrics::histogram!(LEDGER_QUERY_DURATION_SECONDS, "query" => query)
        .record(elapsed.as_secs_f64());
    if !ok {
        metrics::counter!(LEDGER_QUERY_ERRORS_TOTAL, "query" => query).increment(1);
    }
}
