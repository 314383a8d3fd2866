//! Benchmark helper for `bench/run.sh`: creates topics, produces an `OrderCreated` backlog,
//! measures one drain of it by a running `payment-processor`, and summarises the runs.
//!
//! ```text
//! cargo run --release -p payment-processor --example payment-processor-bench -- produce --topic T --orders 100000
//! cargo run --release -p payment-processor --example payment-processor-bench -- drain --pid P --schema S --group G --topic T --orders N --started-at-ms MS --config key@20ms --results FILE
//! cargo run --release -p payment-processor --example payment-processor-bench -- summary --results FILE
//! ```
//!
//! A drain is done when BOTH every order's payment left `PENDING` in the run's schema AND the
//! group's committed offsets reached the end of every partition of the source topic. Its
//! throughput is measured up to the last settlement (`max(updated_at)`), so the commit interval
//! (offsets are committed every second) does not count as processing time.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use contracts::{LineItem, OrderCreated};
use eventing::AvroCodec;
use eventing::kafka::{KafkaArgs, create_topic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use rust_decimal::Decimal;
use tokio_postgres::NoTls;
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create topics (a no-op for existing ones).
    CreateTopics {
        #[arg(long, required = true)]
        topic: Vec<String>,
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        #[arg(
            long,
            env = "KAFKA_BOOTSTRAP_SERVERS",
            default_value = "127.0.0.1:9092"
        )]
        bootstrap: String,
    },
    /// Produce `orders` OrderCreated records (key = order id, headers id/type/traceparent as
    /// cdc-relay writes them, Confluent-framed Avro through the registry, occurred_at = now).
    Produce {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 100_000)]
        orders: u64,
        #[arg(
            long,
            env = "KAFKA_BOOTSTRAP_SERVERS",
            default_value = "127.0.0.1:9092"
        )]
        bootstrap: String,
        #[arg(
            long,
            env = "SCHEMA_REGISTRY_URL",
            default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
        )]
        registry_url: String,
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Poll until the processor `pid` drained `orders` from `topic`; append one result line.
    Drain {
        /// The payment-processor process (CPU and peak RSS are read from /proc/<pid>).
        #[arg(long)]
        pid: u32,
        #[arg(long, env = "PAYMENTS_DATABASE_URL")]
        database_url: String,
        /// The processor's `--database-schema`.
        #[arg(long)]
        schema: String,
        /// The processor's consumer group.
        #[arg(long)]
        group: String,
        /// The source topic.
        #[arg(long)]
        topic: String,
        #[arg(long)]
        orders: u64,
        /// When the processor was started, Unix epoch milliseconds.
        #[arg(long)]
        started_at_ms: i64,
        /// Label of the configuration, e.g. `key@20ms`.
        #[arg(long)]
        config: String,
        /// File the result line is appended to (tab-separated).
        #[arg(long)]
        results: std::path::PathBuf,
        /// Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`).
        #[arg(long, default_value_t = 100)]
        clk_tck: u64,
        #[arg(long, default_value_t = 900)]
        timeout_secs: u64,
        #[arg(
            long,
            env = "KAFKA_BOOTSTRAP_SERVERS",
            default_value = "127.0.0.1:9092"
        )]
        bootstrap: String,
    },
    /// Print min / median / max per configuration from a results file.
    Summary {
        #[arg(long)]
        results: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::CreateTopics {
            topic,
            partitions,
            bootstrap,
        } => {
            let kafka = KafkaArgs::local(&bootstrap);
            for topic in topic {
                create_topic(&kafka, &topic, partitions)
                    .await
                    .map_err(anyhow::Error::msg)?;
            }
        }
        Command::Produce {
            topic,
            orders,
            bootstrap,
            registry_url,
            timeout_secs,
        } => produce(&topic, orders, &bootstrap, &registry_url, timeout_secs).await?,
        Command::Drain {
            pid,
            database_url,
            schema,
            group,
            topic,
            orders,
            started_at_ms,
            config,
            results,
            clk_tck,
            timeout_secs,
            bootstrap,
        } => {
            let run = drain(DrainArgs {
                pid,
                database_url: &database_url,
                schema: &schema,
                group: &group,
                topic: &topic,
                orders,
                started_at_ms,
                clk_tck,
                timeout: Duration::from_secs(timeout_secs),
                bootstrap: &bootstrap,
            })
            .await?;
            println!(
                "{config}: {} settled; {:.0} events/s incl. start-up ({:.2} s), {:.0} events/s from the first settlement ({:.2} s); done (offsets committed) after {:.2} s; CPU {:.2} s; peak RSS {:.1} MiB",
                run.settled,
                run.settled as f64 / run.total_secs,
                run.total_secs,
                run.steady_rate(),
                run.steady_secs,
                run.done_secs,
                run.cpu_secs,
                run.peak_rss_kib as f64 / 1024.0
            );
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&results)
                .with_context(|| format!("open {}", results.display()))?;
            writeln!(
                file,
                "{config}\t{}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{}",
                run.settled,
                run.total_secs,
                run.steady_secs,
                run.done_secs,
                run.cpu_secs,
                run.peak_rss_kib
            )?;
        }
        Command::Summary { results } => summary(&results)?,
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One order, as order-producer would write it to its outbox.
fn order_created(index: u64) -> OrderCreated {
    let unit_price = Decimal::new(1250, 2);
    OrderCreated {
        event_id: Uuid::new_v4(),
        occurred_at: Utc::now(),
        order_id: Uuid::new_v4(),
        customer_id: format!("bench-customer-{}", index % 1000),
        total_amount: unit_price * Decimal::from(2),
        currency: "EUR".into(),
        items: vec![LineItem {
            sku: format!("SKU-{}", index % 100),
            quantity: 2,
            unit_price,
        }],
    }
}

async fn produce(
    topic: &str,
    orders: u64,
    bootstrap: &str,
    registry_url: &str,
    timeout_secs: u64,
) -> anyhow::Result<()> {
    let codec = AvroCodec::new(registry_url).context("schema registry settings")?;
    codec
        .register::<OrderCreated>()
        .await
        .context("register OrderCreated (is the local stack up?)")?;
    // The safe settings, batched for a backlog: throughput matters here, latency does not.
    let producer: FutureProducer = KafkaArgs::local(bootstrap)
        .safe_producer_config()
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .set("compression.type", "lz4")
        .create()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(timeout_secs);
    let mut deliveries = Vec::with_capacity(usize::try_from(orders).unwrap_or(0));
    for index in 0..orders {
        let event = order_created(index);
        let payload = codec.encode(&event).await?;
        let key = event.order_id.to_string();
        let id = event.event_id.to_string();
        let traceparent = format!(
            "00-{}-{}-01",
            Uuid::new_v4().simple(),
            &Uuid::new_v4().simple().to_string()[..16]
        );
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "id",
                value: Some(id.as_str()),
            })
            .insert(Header {
                key: "type",
                value: Some("OrderCreated"),
            })
            .insert(Header {
                key: "traceparent",
                value: Some(traceparent.as_str()),
            });
        let mut record = FutureRecord::to(topic)
            .key(key.as_str())
            .payload(payload.as_slice())
            .headers(headers);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if Instant::now() > deadline {
                        bail!("producer queue still full after {timeout_secs} s");
                    }
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((e, _)) => bail!("produce to {topic}: {e}"),
            }
        }
    }
    for delivery in deliveries {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, delivery).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err((e, _)))) => bail!("delivery to {topic} failed: {e}"),
            Ok(Err(_)) => bail!("delivery to {topic} cancelled"),
            Err(_) => bail!("deliveries to {topic} not acknowledged after {timeout_secs} s"),
        }
    }
    producer
        .flush(Duration::from_secs(10))
        .context("flush the producer")?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "produced {orders} OrderCreated records to {topic} in {secs:.1} s ({:.0} records/s)",
        orders as f64 / secs
    );
    Ok(())
}

struct DrainArgs<'a> {
    pid: u32,
    database_url: &'a str,
    schema: &'a str,
    group: &'a str,
    topic: &'a str,
    orders: u64,
    started_at_ms: i64,
    clk_tck: u64,
    timeout: Duration,
    bootstrap: &'a str,
}

#[derive(Debug)]
struct DrainRun {
    settled: u64,
    /// Processor start → last settlement.
    total_secs: f64,
    /// First settlement → last settlement.
    steady_secs: f64,
    /// Processor start → settled AND offsets committed to the end (observed by polling).
    done_secs: f64,
    cpu_secs: f64,
    peak_rss_kib: u64,
}

impl DrainRun {
    fn steady_rate(&self) -> f64 {
        steady_rate(self.settled, self.steady_secs)
    }
}

/// Events per second between the first and the last settlement (n settlements, n-1 gaps).
fn steady_rate(settled: u64, steady_secs: f64) -> f64 {
    if steady_secs > 0.0 {
        settled.saturating_sub(1) as f64 / steady_secs
    } else {
        f64::NAN
    }
}

/// Settled payments and the epoch seconds of the first and last settlement.
struct Settlements {
    settled: u64,
    first: Option<f64>,
    last: Option<f64>,
}

async fn settlements(client: &tokio_postgres::Client, schema: &str) -> Settlements {
    let sql = format!(
        "SELECT count(*), extract(epoch FROM min(updated_at))::float8, \
                extract(epoch FROM max(updated_at))::float8 \
           FROM \"{}\".payments WHERE status <> 'PENDING'",
        schema.replace('"', "")
    );
    // The table appears only once the processor migrated its schema: until then, nothing.
    match client.query_one(&sql, &[]).await {
        Ok(row) => Settlements {
            settled: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            first: row.get(1),
            last: row.get(2),
        },
        Err(_) => Settlements {
            settled: 0,
            first: None,
            last: None,
        },
    }
}

/// Whether the group's committed offsets reached the high watermark of every partition.
fn offsets_at_end(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<bool> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition(topic, *p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(5))?;
    for p in partitions {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(5))?;
        let at = match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => -1,
        };
        if at < high {
            return Ok(false);
        }
    }
    Ok(true)
}

/// (user + system CPU seconds, peak RSS KiB) of a live process.
fn process_usage(pid: u32, clk_tck: u64) -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("the processor (pid {pid}) is gone"))?;
    // Fields after the command name `(…)`: state is field 3, utime 14, stime 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unreadable /proc/<pid>/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .context("short /proc/<pid>/stat")?
            .parse::<u64>()
            .context("unreadable CPU ticks")
    };
    let cpu = (ticks(11)? + ticks(12)?) as f64 / clk_tck as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")?;
    Ok((cpu, peak))
}

async fn drain(args: DrainArgs<'_>) -> anyhow::Result<DrainRun> {
    let (client, connection) = tokio_postgres::connect(args.database_url, NoTls)
        .await
        .context("connect to the payments database")?;
    tokio::spawn(connection);
    // Only reads the group's committed offsets: never subscribes, so it never joins the group.
    let consumer: BaseConsumer = KafkaArgs::local(args.bootstrap)
        .client_config(&[("group.id", args.group), ("enable.auto.commit", "false")])
        .create()?;
    let consumer = std::sync::Arc::new(consumer);
    let deadline = Instant::now() + args.timeout;
    let mut last_report = Instant::now();
    loop {
        let usage = process_usage(args.pid, args.clk_tck)?;
        let s = settlements(&client, args.schema).await;
        let offsets_done = if s.settled >= args.orders {
            let (consumer, topic) = (consumer.clone(), args.topic.to_owned());
            tokio::task::spawn_blocking(move || offsets_at_end(&consumer, &topic))
                .await?
                .unwrap_or(false)
        } else {
            false
        };
        if offsets_done {
            let start = args.started_at_ms as f64 / 1000.0;
            let (first, last) = (s.first.unwrap_or(start), s.last.unwrap_or(start));
            return Ok(DrainRun {
                settled: s.settled,
                total_secs: last - start,
                steady_secs: last - first,
                done_secs: (now_ms() - args.started_at_ms) as f64 / 1000.0,
                cpu_secs: usage.0,
                peak_rss_kib: usage.1,
            });
        }
        if Instant::now() > deadline {
            bail!(
                "not drained after {} s: {} of {} payments settled",
                args.timeout.as_secs(),
                s.settled,
                args.orders
            );
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("  … {} of {} settled", s.settled, args.orders);
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Debug, Default)]
struct ConfigRuns {
    orders: Vec<u64>,
    total_rate: Vec<f64>,
    steady_rate: Vec<f64>,
    cpu_secs: Vec<f64>,
    cpu_ms_per_event: Vec<f64>,
    rss_mib: Vec<f64>,
}

/// min / median / max of a non-empty sample.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (v[0], median, v[n - 1])
}

fn fmt_spread(values: &[f64], decimals: usize) -> String {
    let (min, median, max) = spread(values);
    format!("{min:.decimals$} / {median:.decimals$} / {max:.decimals$}")
}

fn summary(path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    // config → runs, in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut runs: BTreeMap<String, ConfigRuns> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 {
            bail!("bad result line `{line}`");
        }
        let (settled, total, steady, cpu, rss): (u64, f64, f64, f64, f64) = (
            f[1].parse()?,
            f[2].parse()?,
            f[3].parse()?,
            f[5].parse()?,
            f[6].parse()?,
        );
        if !runs.contains_key(f[0]) {
            order.push(f[0].to_owned());
        }
        let r = runs.entry(f[0].to_owned()).or_default();
        r.orders.push(settled);
        r.total_rate.push(settled as f64 / total);
        r.steady_rate.push(steady_rate(settled, steady));
        r.cpu_secs.push(cpu);
        r.cpu_ms_per_event.push(cpu * 1000.0 / settled as f64);
        r.rss_mib.push(rss / 1024.0);
    }
    println!(
        "| configuration | orders | runs | events/s incl. start-up | events/s from 1st settlement | CPU s | CPU ms/event | peak RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for config in &order {
        let r = &runs[config];
        println!(
            "| {config} | {} | {} | {} | {} | {} | {} | {} |",
            r.orders[0],
            r.orders.len(),
            fmt_spread(&r.total_rate, 0),
            fmt_spread(&r.steady_rate, 0),
            fmt_spread(&r.cpu_secs, 2),
            fmt_spread(&r.cpu_ms_per_event, 3),
            fmt_spread(&r.rss_mib, 1),
        );
    }
    println!("(each cell: min / median / max over the runs)");
    for config in &order {
        let Some(latency) = config.strip_prefix("key@") else {
            continue;
        };
        if let Some(baseline) = runs.get(&format!("partition@{latency}")) {
            let key = spread(&runs[config].steady_rate).1;
            let partition = spread(&baseline.steady_rate).1;
            println!(
                "gateway latency {latency}: key / partition = {:.1}x (median events/s from the first settlement: {key:.0} vs {partition:.0})",
                key / partition
            );
        }
    }
    Ok(())
}
