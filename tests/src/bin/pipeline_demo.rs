//! `make demo`: the pipeline surviving a payment outage, on the real stack.
//!
//! Starts every service as a real process (both cdc-relays first, order-producer, the payment
//! gateway simulator with some declines and transient failures, payment-processor,
//! dlq-handler) on an isolated world (fresh orders database, payments schema, topics), places
//! `--orders` orders through `POST /orders` at `--rate` orders/s, stops the payment processor
//! (SIGTERM) once `--outage-start` percent of them are placed and starts it again after
//! `--outage`, waits until every order settles, then prints a summary:
//!
//! - paid, failed by reason, still pending (read through `GET /orders/{id}`, one terminal
//!   state per order checked in its status history);
//! - the gateway's succeeded charges for these orders versus paid orders (its durable ledger;
//!   must be equal, and no order charged twice);
//! - POST → settled latency (from just before the POST to the order's terminal status-history
//!   entry, both on this machine's clock) for orders placed outside and inside the outage;
//! - throughput.
//!
//! Exit status 1 when an order was rejected, did not settle by `--settle-deadline`, was charged
//! twice, or charges and paid orders differ. Everything it started is stopped when it ends; the
//! database, schema and topics are removed unless `--keep`.

use anyhow::{Context, bail};
use clap::Parser;
use e2e_tests::pipeline::{KafkaCluster, Pipeline, PipelineConfig, Security, World};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "pipeline_demo",
    about = "Place orders through the real pipeline, stop the payment processor part-way, and \
             show that every order settles, each paid order charged exactly once"
)]
struct Args {
    /// Orders to place.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    orders: u32,
    /// Orders placed (at `--rate`) and settled before the run, not counted: they warm the
    /// services' connection pools and caches, so the figures show the steady state.
    #[arg(long, default_value_t = 50)]
    warmup: u32,
    /// Orders per second (open loop: each POST starts on schedule, whatever the others do).
    #[arg(long, default_value_t = 30.0, value_parser = positive_rate)]
    rate: f64,
    /// How long the payment processor stays stopped; `0s` disables the outage.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    outage: Duration,
    /// Stop the payment processor once this percentage of the orders is placed.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(0..=100))]
    outage_start: u8,
    /// Fail when an order is not settled this long after the last order was placed.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    settle_deadline: Duration,
    /// payment-processor `--payment-deadline`: orders not paid within it fail as EXPIRED
    /// (e.g. `10s` with the default 15 s outage shows expiry).
    #[arg(long, default_value = "10m")]
    payment_deadline: String,
    /// Share of charges the gateway simulator declines (→ PAYMENT_FAILED, DECLINED).
    #[arg(long, default_value = "0.02")]
    decline_rate: String,
    /// Share of charges the gateway simulator answers 503 (→ retried, then paid).
    #[arg(long, default_value = "0.05")]
    transient_failure_rate: String,
    /// Concurrent POSTs at most (a POST past it starts late; the summary shows the rate reached).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Where the service binaries are (`make demo` builds them with --release).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where the services' logs go.
    #[arg(long, default_value = ".stack/logs/demo")]
    log_dir: PathBuf,
    /// Keep the run's database, payments schema and topics (the stack stays up too).
    #[arg(long)]
    keep: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Also write one CSV line per order (seconds since the first POST, POST → 201 ms,
    /// POST → settled ms, during the outage) to this file.
    #[arg(long)]
    latencies_csv: Option<PathBuf>,
    /// No progress bars (plain lines; for logs and CI).
    #[arg(long)]
    no_progress: bool,
    /// Run every service over TLS: Postgres with sslmode=verify-full as a TLS-only role, Kafka on
    /// the SASL_SSL listener with SCRAM-SHA-512 (the stack's CA and random passwords, from
    /// .stack/env).
    #[arg(long, conflicts_with = "kafka_cluster")]
    tls: bool,
    /// Run on the stack's 3-broker Kafka cluster (topics with replication factor 3 and
    /// min.insync.replicas=2) instead of the single broker; start it with
    /// `make up KAFKA_NODES=3`.
    #[arg(long)]
    kafka_cluster: bool,
}

fn positive_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 100_000.0 => Ok(rate),
        _ => Err(format!("{raw:?} is not a rate in (0, 100000] orders/s")),
    }
}

/// One placed order as the client saw it.
#[derive(Debug, Clone)]
struct Placed {
    order_id: Uuid,
    sent_at: SystemTime,
    /// Scheduled send → 201.
    answered_in: Duration,
}

/// The processor's outage as the client saw it: from just before SIGTERM to ready again.
#[derive(Debug, Clone, Copy)]
struct OutageWindow {
    from: SystemTime,
    until: SystemTime,
}

impl OutageWindow {
    fn contains(&self, at: SystemTime) -> bool {
        at >= self.from && at < self.until
    }

    /// Whether the outage touched an order sent at `sent` and settled at `settled`: placed
    /// during it, or placed before it and still unsettled when it began.
    fn delayed(&self, sent: SystemTime, settled: SystemTime) -> bool {
        self.contains(sent) || (sent < self.from && settled > self.from)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.log_dir)
        .with_context(|| format!("creating {}", args.log_dir.display()))?;
    let config = PipelineConfig {
        bin_dir: args.bin_dir.clone(),
        prefix: "demo".into(),
        log_dir: args.log_dir.clone(),
        payment_deadline: args.payment_deadline.clone(),
        retry_delays: "2s,5s".into(),
        retry_attempts: "3".into(),
        gateway_args: vec![
            "--decline-rate".into(),
            args.decline_rate.clone(),
            "--transient-failure-rate".into(),
            args.transient_failure_rate.clone(),
        ],
        service_env: vec![("LOG_FORMAT".into(), "json".into())],
        security: args.tls.then(Security::from_stack_env),
        kafka_cluster: args.kafka_cluster.then(KafkaCluster::from_stack_env),
    };
    println!(
        "== starting the pipeline: 2 × cdc-relay, order-producer, payment-gateway-sim (declines \
         {}, transient failures {}), payment-processor, dlq-handler (logs in {})",
        args.decline_rate,
        args.transient_failure_rate,
        args.log_dir.display()
    );
    let started = Instant::now();
    let mut pipeline = Pipeline::start(&config).await;
    pipeline.world.keep = args.keep;
    println!(
        "   all ready in {:.1} s (run id {}, orders database {}, topics {}.*)",
        started.elapsed().as_secs_f64(),
        pipeline.world.id,
        pipeline.world.orders_db,
        pipeline.world.topic("").trim_end_matches('.')
    );
    // Ctrl-C / SIGTERM end the run through the normal path: every service stopped, the
    // run's database, schema, slots and topics removed.
    let result = tokio::select! {
        result = run(&args, &mut pipeline) => result,
        signal = interrupted() => Err(anyhow::anyhow!("interrupted by {signal}")),
    };
    if args.keep {
        print_kept(&pipeline);
    }
    drop(pipeline);
    let verdict = result?;
    if let Some(problem) = verdict {
        bail!("{problem}");
    }
    Ok(())
}

async fn interrupted() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// Place, disturb, wait, verify; `Ok(Some(problem))` when the run broke a promise.
async fn run(args: &Args, pipeline: &mut Pipeline) -> anyhow::Result<Option<String>> {
    let api = pipeline.api.clone();
    let orders_db = e2e_tests::connect_postgres(&pipeline.world.orders_url()).await;
    if args.warmup > 0 {
        let started = Instant::now();
        let (tx, _rx) = tokio::sync::watch::channel(0u64);
        let warm = place_orders(args, args.warmup, api.clone(), tx, ProgressBar::hidden()).await?;
        if let Some(problem) = warm.rejected.first() {
            bail!("a warm-up order was not accepted: {problem}");
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while terminal_count(&orders_db).await? < warm.placed.len() as i64 {
            if Instant::now() >= deadline {
                bail!(
                    "the warm-up orders did not settle within 2 min; logs in {}",
                    args.log_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "== warm-up: {} orders placed and settled in {:.1} s (not counted below)",
            warm.placed.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let baseline = terminal_count(&orders_db).await?;
    let bars = Bars::new(args.orders, args.no_progress);
    let outage_index = if args.outage.is_zero() {
        None
    } else {
        Some(u64::from(args.orders) * u64::from(args.outage_start) / 100)
    };
    println!(
        "== placing {} orders at {} orders/s{}",
        args.orders,
        args.rate,
        match outage_index {
            Some(i) => format!(
                "; the payment processor stops after order {i} for {}",
                humantime::format_duration(args.outage)
            ),
            None => String::new(),
        }
    );
    let (placed_tx, placed_rx) = tokio::sync::watch::channel(0u64);
    let watcher =
        spawn_settled_watcher(pipeline.world.orders_url(), baseline, bars.settled.clone());
    let placing = place_orders(args, args.orders, api, placed_tx, bars.placed.clone());
    let disturbing = disturb(args, pipeline, outage_index, placed_rx, &bars);
    let (placement, window) = tokio::join!(placing, disturbing);
    let placement = placement?;
    let window = window?;
    bars.placed.finish();

    // Wait until every accepted order settled, or the deadline.
    let deadline = placement.last_sent_instant + args.settle_deadline;
    let expected = placement.placed.len() as i64;
    loop {
        let settled = terminal_count(&orders_db).await? - baseline;
        if settled >= expected || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher.abort();
    bars.settled
        .set_position((terminal_count(&orders_db).await? - baseline).max(0) as u64);
    bars.settled.finish();
    let summary = summarize(
        pipeline,
        &orders_db,
        &placement,
        window,
        args.latencies_csv.as_ref(),
    )
    .await?;
    println!("{}", summary.render(args));
    if let Some(path) = &args.summary_json {
        std::fs::write(path, serde_json::to_string_pretty(&summary.to_json(args))?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(summary.problem(args.settle_deadline))
}

struct Bars {
    placed: ProgressBar,
    settled: ProgressBar,
    status: ProgressBar,
    _multi: MultiProgress,
}

impl Bars {
    fn new(orders: u32, hidden: bool) -> Self {
        let multi = MultiProgress::new();
        if hidden {
            multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let style = ProgressStyle::with_template(
            "   {prefix:>8} [{bar:40}] {pos:>7}/{len:7} {per_sec:>12} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = |prefix: &'static str| {
            let bar = multi.add(ProgressBar::new(u64::from(orders)));
            bar.set_style(style.clone());
            bar.set_prefix(prefix);
            bar
        };
        let placed = bar("placed");
        let settled = bar("settled");
        let status = multi.add(ProgressBar::new_spinner());
        status.set_style(
            ProgressStyle::with_template("   {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        status.set_message("payment-processor: running");
        Self {
            placed,
            settled,
            status,
            _multi: multi,
        }
    }

    /// A line that stays, above the bars (printed as is without bars: `--no-progress`, or
    /// stdout not a terminal, where indicatif draws nothing).
    fn say(&self, line: String, hidden: bool) {
        if hidden || self.status.is_hidden() {
            println!("{line}");
        } else {
            self.status.println(line);
        }
    }
}

struct Placement {
    placed: Vec<Placed>,
    rejected: Vec<String>,
    first_sent: SystemTime,
    last_sent: SystemTime,
    last_sent_instant: Instant,
}

/// POST every order on its schedule (open loop); an order not answered 201 is `rejected`.
async fn place_orders(
    args: &Args,
    count: u32,
    api: String,
    placed_tx: tokio::sync::watch::Sender<u64>,
    bar: ProgressBar,
) -> anyhow::Result<Placement> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = tokio::time::Instant::now();
    let first_sent = SystemTime::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        tokio::time::sleep_until(start + interval.mul_f64(f64::from(i))).await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (http, api, bar) = (http.clone(), api.clone(), bar.clone());
        // Latencies count from the order's slot in the schedule, not from when a permit came
        // free: time queued behind slow POSTs is part of what a client would see.
        let scheduled = first_sent + interval.mul_f64(f64::from(i));
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let result = place_one(&http, &api, i, scheduled).await;
            bar.inc(1);
            result
        }));
        placed_tx.send_replace(u64::from(i) + 1);
    }
    let last_sent = SystemTime::now();
    let last_sent_instant = Instant::now();
    let mut placed = Vec::with_capacity(tasks.len());
    let mut rejected = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(order) => placed.push(order),
            Err(problem) => rejected.push(problem),
        }
    }
    Ok(Placement {
        placed,
        rejected,
        first_sent,
        last_sent,
        last_sent_instant,
    })
}

async fn place_one(
    http: &reqwest::Client,
    api: &str,
    i: u32,
    scheduled: SystemTime,
) -> Result<Placed, String> {
    let body = json!({"customer_id": format!("demo-customer-{}", i % 97), "currency": "EUR",
        "items": [{"sku": "SKU-RED-MUG", "quantity": 1 + i % 3, "unit_price": "12.50"},
                  {"sku": "SKU-TEA", "quantity": 1, "unit_price": "4.99"}]});
    let response = http
        .post(format!("{api}/orders"))
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST /orders: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("POST /orders answered {status}: {text}"));
    }
    let created: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let order_id = created["order_id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| format!("no order_id in {text}"))?;
    Ok(Placed {
        order_id,
        sent_at: scheduled,
        answered_in: SystemTime::now()
            .duration_since(scheduled)
            .unwrap_or_default(),
    })
}

/// Stop the payment processor once `outage_index` orders are placed, start it again after the
/// outage; the window runs from just before SIGTERM to ready again.
async fn disturb(
    args: &Args,
    pipeline: &mut Pipeline,
    outage_index: Option<u64>,
    mut placed_rx: tokio::sync::watch::Receiver<u64>,
    bars: &Bars,
) -> anyhow::Result<Option<OutageWindow>> {
    let Some(index) = outage_index else {
        return Ok(None);
    };
    placed_rx
        .wait_for(|placed| *placed >= index)
        .await
        .context("placement ended early")?;
    let from = SystemTime::now();
    bars.status
        .set_message("payment-processor: STOPPING (SIGTERM)");
    pipeline.stop_processor().await;
    let down = Instant::now();
    bars.say(
        format!(
            "   -- payment-processor stopped after order {index}; orders are still accepted (201)"
        ),
        args.no_progress,
    );
    while down.elapsed() < args.outage {
        let left = args.outage.saturating_sub(down.elapsed());
        bars.status.set_message(format!(
            "payment-processor: DOWN, restarting in {:.0} s",
            left.as_secs_f64().ceil()
        ));
        tokio::time::sleep(left.min(Duration::from_millis(250))).await;
    }
    bars.status.set_message("payment-processor: starting");
    pipeline.start_processor().await;
    let until = SystemTime::now();
    bars.status.set_message("payment-processor: running");
    bars.say(
        format!(
            "   -- payment-processor ready again after {:.1} s down; it pays what waited",
            until.duration_since(from).unwrap_or_default().as_secs_f64()
        ),
        args.no_progress,
    );
    Ok(Some(OutageWindow { from, until }))
}

/// Keep the `settled` bar current (a count of terminal status-history entries; the database
/// is this run's own).
fn spawn_settled_watcher(
    orders_url: String,
    baseline: i64,
    bar: ProgressBar,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let db = e2e_tests::connect_postgres(&orders_url).await;
        loop {
            if let Ok(count) = terminal_count(&db).await {
                bar.set_position((count - baseline).max(0) as u64);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

async fn terminal_count(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db
        .query_one(
            "SELECT count(DISTINCT order_id) FROM order_status_history \
             WHERE to_status IN ('PAID', 'PAYMENT_FAILED')",
            &[],
        )
        .await?
        .get(0))
}

/// Latency percentiles of one group of orders.
#[derive(Debug, Default)]
struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    fn percentile(&self, p: f64) -> Option<Duration> {
        if self.samples.is_empty() {
            return None;
        }
        // Nearest rank on the sorted samples.
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        Some(self.samples[rank.clamp(1, self.samples.len()) - 1])
    }

    fn row(&self, label: &str) -> String {
        let cell = |p: f64| {
            self.percentile(p)
                .map(format_latency)
                .unwrap_or_else(|| "-".into())
        };
        format!(
            "   {label:<22} {:>7} {:>9} {:>9} {:>9} {:>9}",
            self.samples.len(),
            cell(50.0),
            cell(95.0),
            cell(99.0),
            cell(100.0)
        )
    }

    fn to_json(&self) -> Value {
        let ms = |p: f64| self.percentile(p).map(|d| d.as_secs_f64() * 1000.0);
        json!({"count": self.samples.len(), "p50_ms": ms(50.0), "p95_ms": ms(95.0),
               "p99_ms": ms(99.0), "max_ms": ms(100.0)})
    }
}

fn format_latency(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

struct Summary {
    run_id: String,
    orders: usize,
    rejected: Vec<String>,
    paid: usize,
    failed: BTreeMap<String, usize>,
    pending: Vec<Uuid>,
    multiple_terminal: Vec<Uuid>,
    api_disagrees: Vec<String>,
    succeeded_charges: i64,
    charged_twice: Vec<Uuid>,
    charged_but_not_paid: Vec<Uuid>,
    outside: Latencies,
    inside: Latencies,
    post: Latencies,
    window: Option<OutageWindow>,
    placement_seconds: f64,
    settle_seconds: Option<f64>,
}

/// Read the outcome: the orders database for timing, `GET /orders/{id}` for what a client
/// sees, the gateway's ledger for charges.
async fn summarize(
    pipeline: &Pipeline,
    orders_db: &tokio_postgres::Client,
    placement: &Placement,
    window: Option<OutageWindow>,
    csv: Option<&PathBuf>,
) -> anyhow::Result<Summary> {
    let ids: Vec<Uuid> = placement.placed.iter().map(|p| p.order_id).collect();
    // First terminal entry per order, and how many terminal entries it has.
    let rows = orders_db
        .query(
            "SELECT order_id, min(occurred_at), count(*) FROM order_status_history \
             WHERE to_status IN ('PAID', 'PAYMENT_FAILED') GROUP BY order_id",
            &[],
        )
        .await?;
    let terminal: HashMap<Uuid, (SystemTime, i64)> = rows
        .iter()
        .map(|r| {
            let at: chrono::DateTime<chrono::Utc> = r.get(1);
            (r.get::<_, Uuid>(0), (SystemTime::from(at), r.get(2)))
        })
        .collect();

    // What a client sees: every order through the API.
    let http = reqwest::Client::new();
    let api = pipeline.api.clone();
    let views: Vec<(Uuid, Result<Value, String>)> = futures::stream::iter(ids.iter().copied())
        .map(|id| {
            let (http, api) = (http.clone(), api.clone());
            async move {
                let view = async {
                    http.get(format!("{api}/orders/{id}"))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?
                        .json::<Value>()
                        .await
                        .map_err(|e| e.to_string())
                }
                .await;
                (id, view)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;

    let mut summary = Summary {
        run_id: pipeline.world.id.clone(),
        orders: ids.len(),
        rejected: placement.rejected.clone(),
        paid: 0,
        failed: BTreeMap::new(),
        pending: Vec::new(),
        multiple_terminal: Vec::new(),
        api_disagrees: Vec::new(),
        succeeded_charges: 0,
        charged_twice: Vec::new(),
        charged_but_not_paid: Vec::new(),
        outside: Latencies::default(),
        inside: Latencies::default(),
        post: Latencies::default(),
        window,
        placement_seconds: placement
            .last_sent
            .duration_since(placement.first_sent)
            .unwrap_or_default()
            .as_secs_f64(),
        settle_seconds: None,
    };
    let mut paid_ids = std::collections::HashSet::new();
    for (id, view) in &views {
        let view = match view {
            Ok(view) => view,
            Err(e) => {
                summary.api_disagrees.push(format!("GET /orders/{id}: {e}"));
                continue;
            }
        };
        let history = view["status_history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let terminal_entries = history
            .iter()
            .filter(|h| h["to_status"] == "PAID" || h["to_status"] == "PAYMENT_FAILED")
            .count();
        if terminal_entries > 1 {
            summary.multiple_terminal.push(*id);
        }
        match view["status"].as_str() {
            Some("PAID") => {
                summary.paid += 1;
                paid_ids.insert(*id);
            }
            Some("PAYMENT_FAILED") => {
                let reason = history
                    .last()
                    .and_then(|h| h["reason"].as_str())
                    .map(reason_code)
                    .unwrap_or("UNKNOWN");
                *summary.failed.entry(reason.to_string()).or_default() += 1;
            }
            _ => summary.pending.push(*id),
        }
        let in_db = terminal.contains_key(id);
        let in_api = view["status"] != "PENDING_PAYMENT";
        if in_db != in_api {
            summary.api_disagrees.push(format!(
                "order {id}: API {} but database {in_db}",
                view["status"]
            ));
        }
    }
    let mut last_settled = None::<SystemTime>;
    for placed in &placement.placed {
        summary.post.samples.push(placed.answered_in);
        if let Some((at, _)) = terminal.get(&placed.order_id) {
            let latency = at.duration_since(placed.sent_at).unwrap_or_default();
            if window.is_some_and(|w| w.delayed(placed.sent_at, *at)) {
                summary.inside.samples.push(latency);
            } else {
                summary.outside.samples.push(latency);
            }
            last_settled = Some(last_settled.map_or(*at, |l| l.max(*at)));
        }
    }
    if let Some(path) = csv {
        let mut text = String::from("sent_s,post_ms,settled_ms,during_outage\n");
        for placed in &placement.placed {
            let sent = placed
                .sent_at
                .duration_since(placement.first_sent)
                .unwrap_or_default();
            let settled_at = terminal.get(&placed.order_id).map(|(at, _)| *at);
            let settled = terminal
                .get(&placed.order_id)
                .map(|(at, _)| {
                    format!(
                        "{:.1}",
                        at.duration_since(placed.sent_at)
                            .unwrap_or_default()
                            .as_secs_f64()
                            * 1000.0
                    )
                })
                .unwrap_or_default();
            text.push_str(&format!(
                "{:.3},{:.1},{settled},{}\n",
                sent.as_secs_f64(),
                placed.answered_in.as_secs_f64() * 1000.0,
                window.is_some_and(|w| settled_at.is_none_or(|at| w.delayed(placed.sent_at, at)))
            ));
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    summary.outside.samples.sort();
    summary.inside.samples.sort();
    summary.post.samples.sort();
    if summary.pending.is_empty() {
        summary.settle_seconds = last_settled.map(|l| {
            l.duration_since(placement.first_sent)
                .unwrap_or_default()
                .as_secs_f64()
        });
    }

    // The gateway's ledger: succeeded charges per order of this run.
    let ledger = e2e_tests::connect_postgres(&World::gateway_database_url()).await;
    let rows = ledger
        .query(
            "SELECT order_id, count(*) FROM charges \
             WHERE order_id = ANY($1) AND status = 'succeeded' GROUP BY order_id",
            &[&ids],
        )
        .await
        .context("reading the gateway's ledger")?;
    for row in rows {
        let (id, count): (Uuid, i64) = (row.get(0), row.get(1));
        summary.succeeded_charges += count;
        if count > 1 {
            summary.charged_twice.push(id);
        }
        if !paid_ids.contains(&id) {
            summary.charged_but_not_paid.push(id);
        }
    }
    Ok(summary)
}

/// `RETRIES_EXHAUSTED: ...` → `RETRIES_EXHAUSTED`.
fn reason_code(reason: &str) -> &str {
    reason
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .next()
        .filter(|code| !code.is_empty())
        .unwrap_or("UNKNOWN")
}

impl Summary {
    fn failed_total(&self) -> usize {
        self.failed.values().sum()
    }

    fn render(&self, args: &Args) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        let check = |ok: bool| if ok { "ok" } else { "FAILED" };
        line(String::new());
        line(format!("== summary (run {})", self.run_id));
        line(format!(
            "   orders placed (201)    {:>7}   rejected: {}",
            self.orders,
            self.rejected.len()
        ));
        line(format!("   PAID                   {:>7}", self.paid));
        let reasons: Vec<String> = self
            .failed
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        line(format!(
            "   PAYMENT_FAILED         {:>7}   {}",
            self.failed_total(),
            if reasons.is_empty() {
                "-".to_string()
            } else {
                reasons.join(", ")
            }
        ));
        line(format!(
            "   still pending          {:>7}   {}",
            self.pending.len(),
            check(self.pending.is_empty())
        ));
        line(format!(
            "   gateway charges        {:>7}   vs paid orders {}: {}",
            self.succeeded_charges,
            self.paid,
            check(
                self.succeeded_charges == self.paid as i64 && self.charged_but_not_paid.is_empty()
            )
        ));
        line(format!(
            "   charged twice          {:>7}   {}",
            self.charged_twice.len(),
            check(self.charged_twice.is_empty())
        ));
        line(format!(
            "   two terminal states    {:>7}   {}",
            self.multiple_terminal.len(),
            check(self.multiple_terminal.is_empty())
        ));
        line(String::new());
        line(format!(
            "   POST → settled         {:>7} {:>9} {:>9} {:>9} {:>9}",
            "orders", "p50", "p95", "p99", "max"
        ));
        line(self.outside.row("outside the outage"));
        if self.window.is_some() {
            line(self.inside.row("during the outage"));
        }
        line(self.post.row("POST → 201 (all)"));
        line(String::new());
        line(format!(
            "   throughput: {} orders placed in {:.1} s ({:.0} orders/s, asked {}); {}",
            self.orders,
            self.placement_seconds,
            self.orders.saturating_sub(1) as f64 / self.placement_seconds.max(1e-9),
            args.rate,
            match self.settle_seconds {
                Some(s) => format!(
                    "all settled {s:.1} s after the first POST ({:.0} orders/s end to end)",
                    self.orders as f64 / s.max(1e-9)
                ),
                None => "not all settled".into(),
            }
        ));
        if let Some(w) = self.window {
            line(format!(
                "   payment-processor down {:.1} s (SIGTERM → ready again)",
                w.until
                    .duration_since(w.from)
                    .unwrap_or_default()
                    .as_secs_f64()
            ));
        }
        for problem in self.rejected.iter().take(5) {
            line(format!("   rejected: {problem}"));
        }
        for problem in self.api_disagrees.iter().take(5) {
            line(format!("   inconsistent: {problem}"));
        }
        out
    }

    fn to_json(&self, args: &Args) -> Value {
        json!({
            "run_id": self.run_id, "orders": self.orders, "rate": args.rate,
            "rejected": self.rejected.len(), "paid": self.paid, "failed": self.failed,
            "pending": self.pending.len(), "succeeded_charges": self.succeeded_charges,
            "charged_twice": self.charged_twice.len(),
            "multiple_terminal_states": self.multiple_terminal.len(),
            "latency_outside_outage": self.outside.to_json(),
            "latency_during_outage": self.inside.to_json(),
            "post_latency": self.post.to_json(),
            "placement_seconds": self.placement_seconds, "settle_seconds": self.settle_seconds,
        })
    }

    /// The promise the run broke, if any.
    fn problem(&self, deadline: Duration) -> Option<String> {
        if !self.rejected.is_empty() {
            return Some(format!("{} orders were not accepted", self.rejected.len()));
        }
        if !self.pending.is_empty() {
            return Some(format!(
                "{} orders not settled within {} of the last POST (e.g. {})",
                self.pending.len(),
                humantime::format_duration(deadline),
                self.pending[0]
            ));
        }
        if !self.charged_twice.is_empty() {
            return Some(format!(
                "{} orders charged twice (e.g. {})",
                self.charged_twice.len(),
                self.charged_twice[0]
            ));
        }
        if self.succeeded_charges != self.paid as i64 || !self.charged_but_not_paid.is_empty() {
            return Some(format!(
                "{} succeeded charges but {} paid orders",
                self.succeeded_charges, self.paid
            ));
        }
        if !self.multiple_terminal.is_empty() {
            return Some(format!(
                "{} orders with two terminal states",
                self.multiple_terminal.len()
            ));
        }
        if !self.api_disagrees.is_empty() {
            return Some(self.api_disagrees[0].clone());
        }
        None
    }
}

fn print_kept(pipeline: &Pipeline) {
    println!(
        "\n== kept (--keep): orders database {} ({}), payments schema {}, topics {}.*\n   \
         dead letters: target/release/dlq-handler list --database-schema {} --dlq-topic {}\n   \
         the stack stays up; `make down` stops it",
        pipeline.world.orders_db,
        service_kit::redact_url(&pipeline.world.orders_url()),
        pipeline.world.schema,
        pipeline.world.topic("").trim_end_matches('.'),
        pipeline.world.schema,
        pipeline.world.topic("dlq"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            run_id: "t".into(),
            orders: 3,
            rejected: Vec::new(),
            paid: 2,
            failed: BTreeMap::from([("DECLINED".to_string(), 1)]),
            pending: Vec::new(),
            multiple_terminal: Vec::new(),
            api_disagrees: Vec::new(),
            succeeded_charges: 2,
            charged_twice: Vec::new(),
            charged_but_not_paid: Vec::new(),
            outside: Latencies::default(),
            inside: Latencies::default(),
            post: Latencies::default(),
            window: None,
            placement_seconds: 1.0,
            settle_seconds: Some(2.0),
        }
    }

    #[test]
    fn a_clean_run_breaks_no_promise_and_each_broken_one_is_named() {
        let deadline = Duration::from_secs(1);
        assert_eq!(summary().problem(deadline), None);
        type Break = fn(&mut Summary);
        let broken: [(Break, &str); 6] = [
            (|s| s.rejected.push("500".into()), "not accepted"),
            (|s| s.pending.push(Uuid::nil()), "not settled"),
            (|s| s.charged_twice.push(Uuid::nil()), "charged twice"),
            (|s| s.succeeded_charges = 3, "succeeded charges but 2 paid"),
            (
                |s| s.multiple_terminal.push(Uuid::nil()),
                "two terminal states",
            ),
            (|s| s.api_disagrees.push("order x".into()), "order x"),
        ];
        for (breaks, expected) in broken {
            let mut s = summary();
            breaks(&mut s);
            let problem = s.problem(deadline).expect("a broken promise");
            assert!(problem.contains(expected), "{problem}");
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let l = Latencies {
            samples: (1..=100).map(Duration::from_millis).collect(),
        };
        assert_eq!(l.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(l.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(l.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(Latencies::default().percentile(50.0), None);
    }

    #[test]
    fn failure_reasons_are_read_as_their_code() {
        assert_eq!(
            reason_code("RETRIES_EXHAUSTED: gateway 503"),
            "RETRIES_EXHAUSTED"
        );
        assert_eq!(reason_code("DECLINED"), "DECLINED");
        assert_eq!(reason_code("expired"), "UNKNOWN");
    }

    #[test]
    fn an_order_sent_inside_the_window_counts_as_during_the_outage() {
        let from = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let w = OutageWindow {
            from,
            until: from + Duration::from_secs(5),
        };
        assert!(w.contains(from));
        assert!(w.contains(from + Duration::from_secs(4)));
        assert!(!w.contains(from + Duration::from_secs(5)));
        assert!(!w.contains(from - Duration::from_millis(1)));
        // Placed before, settled after it began: delayed by it too.
        let before = from - Duration::from_secs(1);
        assert!(w.delayed(before, from + Duration::from_secs(6)));
        assert!(!w.delayed(before, from - Duration::from_millis(500)));
        assert!(!w.delayed(from + Duration::from_secs(5), from + Duration::from_secs(6)));
    }
}
