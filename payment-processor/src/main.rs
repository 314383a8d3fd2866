//! Wiring only: config → adapters → use case → consumer runtime, until SIGTERM/SIGINT.
fn main() {}
