//! Load generator: N concurrent clients send `POST /orders` for D seconds, then print the
//! throughput and latency percentiles (machine-readable `key=value` lines for bench/run.sh).
//!
//! Loopback only by default; bounded in time and stops by itself.

use anyhow::Context;
use clap::Parser;
use std::time::{Duration, Instant};

/// Drive POST /orders with concurrent clients and report orders/s, p50 and p99.
#[derive(Debug, Parser)]
struct Args {
    /// Base URL of a running order-producer.
    #[arg(long, env = "ORDER_LOAD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients (each sends its next request when the previous one answered).
    #[arg(long, short = 'c', default_value_t = 8)]
    clients: usize,
    /// Duration of the run in seconds.
    #[arg(long, short = 'd', default_value_t = 10)]
    duration_secs: u64,
    /// Lines per order.
    #[arg(long, default_value_t = 2)]
    items: usize,
}

#[derive(Debug, Default)]
struct ClientStats {
    latencies: Vec<Duration>,
    errors: u64,
}

fn order_body(client: usize, seq: u64, items: usize) -> String {
    let lines: Vec<serde_json::Value> = (0..items)
        .map(|i| serde_json::json!({"sku": format!("SKU-{i}"), "quantity": 1 + i, "unit_price": "19.99"}))
        .collect();
    serde_json::json!({"customer_id": format!("load-{client}-{seq}"), "currency": "EUR", "items": lines})
        .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(args.clients)
        .build()
        .context("HTTP client")?;
    let endpoint = format!("{}/orders", args.url.trim_end_matches('/'));
    let ready = http
        .get(format!("{}/readyz", args.url.trim_end_matches('/')))
        .send()
        .await
        .with_context(|| format!("order-producer at {} is not reachable", args.url))?;
    anyhow::ensure!(
        ready.status().is_success(),
        "order-producer is not ready: {}",
        ready.status()
    );

    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|client| {
            let http = http.clone();
            let endpoint = endpoint.clone();
            let items = args.items;
            tokio::spawn(async move {
                let mut stats = ClientStats::default();
                let mut seq = 0u64;
                while Instant::now() < deadline {
                    seq += 1;
                    let body = order_body(client, seq, items);
                    let sent = Instant::now();
                    let response = http
                        .post(&endpoint)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let _ = r.bytes().await;
                            stats.latencies.push(sent.elapsed());
                        }
                        _ => stats.errors += 1,
                    }
                }
                stats
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let stats = task.await.context("client task")?;
        latencies.extend(stats.latencies);
        errors += stats.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("clients={}", args.clients);
    println!("duration_s={elapsed:.1}");
    println!("orders={}", latencies.len());
    println!("errors={errors}");
    println!("orders_per_s={:.1}", latencies.len() as f64 / elapsed);
    println!("p50_ms={:.2}", ms(percentile(&latencies, 50.0)));
    println!("p99_ms={:.2}", ms(percentile(&latencies, 99.0)));
    Ok(())
}
