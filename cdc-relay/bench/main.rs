//! Benchmark helper for `bench/run.sh`: seeds an outbox backlog, creates topics, waits for a
//! metric, measures commit → consume latency at a steady insert rate, and measures the floor
//! under the relay's Kafka side: a bare producer with the relay's settings at the same rate
//! (send → acknowledgement, no Postgres, no relay).
//!
//! ```text
//! cargo run --release -p cdc-relay --example cdc-relay-bench -- seed --database-url URL --rows 1000000
//! cargo run --release -p cdc-relay --example cdc-relay-bench -- latency --database-url URL --topic T --rate 1000 --seconds 20
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use eventing::kafka::{KafkaArgs, create_topic};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio_postgres::NoTls;

const INSERT_ROWS: &str = "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) \
     SELECT gen_random_uuid(), $1, 'agg-' || (n % 1000), 'BenchEvent', \
            convert_to(lpad((extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 16, '0') \
                       || ':' || repeat('x', $4), 'UTF8') \
     FROM generate_series($2::bigint, $2::bigint + $3::bigint - 1) AS n";

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Insert a backlog of outbox rows (~`payload-bytes` each) in large transactions.
    Seed {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        rows: i64,
        #[arg(long, default_value_t = 300)]
        payload_bytes: i32,
        #[arg(long, default_value_t = 10_000)]
        batch: i64,
        #[arg(long, default_value = "order")]
        aggregate_type: String,
    },
    /// Create a topic.
    CreateTopic {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
    },
    /// Delete topics (missing ones are ignored).
    DeleteTopics {
        #[arg(long)]
        topic: Vec<String>,
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
    },
    /// Poll a Prometheus endpoint until `name` reaches `at_least`; prints the seconds waited.
    WaitMetric {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        name: String,
        #[arg(long)]
        at_least: f64,
        #[arg(long, default_value_t = 900)]
        timeout_secs: u64,
    },
    /// Insert at a steady rate for a while; consume the topic; print commit→consume latency.
    Latency(LatencyArgs),
    /// The relay's Kafka side without the relay: records of the same size sent at a steady
    /// rate by a producer with the relay's settings; prints send → acknowledgement quantiles.
    ProduceLatency(ProduceLatencyArgs),
    /// The relay's Kafka side without the relay, as fast as it goes: `records` records of the
    /// same size through a producer with the relay's settings, all acknowledged; prints
    /// records/s (run it under `/usr/bin/time` for its CPU).
    ProduceDrain {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        #[arg(long, default_value_t = 317)]
        record_bytes: usize,
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// A producer setting over the relay's defaults (KEY=VALUE), as the relay's
        /// --kafka-option.
        #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
        kafka_options: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
struct ProduceLatencyArgs {
    #[arg(long)]
    topic: String,
    #[arg(long)]
    rate: u64,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds sent but not measured first (connections, metadata, the broker's first batches).
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    #[arg(long, default_value_t = 317)]
    record_bytes: usize,
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// A producer setting over the relay's defaults (KEY=VALUE), as the relay's --kafka-option.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    kafka_options: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct LatencyArgs {
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "order")]
    aggregate_type: String,
    #[arg(long)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 300)]
    payload_bytes: i32,
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// After the warm-up, save the relay's /metrics here (with curl from --metrics-url), so
    /// the steady-state histograms can be taken as the difference to the end.
    #[arg(long, requires = "metrics_before")]
    metrics_url: Option<String>,
    #[arg(long, requires = "metrics_url")]
    metrics_before: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed {
            database_url,
            rows,
            payload_bytes,
            batch,
            aggregate_type,
        } => {
            let client = connect(&database_url).await?;
            let started = Instant::now();
            let mut first = 0;
            while first < rows {
                let count = batch.min(rows - first);
                client
                    .execute(
                        INSERT_ROWS,
                        &[&aggregate_type, &first, &count, &payload_bytes],
                    )
                    .await?;
                first += count;
            }
            eprintln!("seeded {rows} rows in {:.1?}", started.elapsed());
        }
        Command::CreateTopic {
            topic,
            partitions,
            bootstrap,
        } => create_topic(&KafkaArgs::local(&bootstrap), &topic, partitions)
            .await
            .map_err(anyhow::Error::msg)?,
        Command::DeleteTopics { topic, bootstrap } => {
            let admin: AdminClient<DefaultClientContext> =
                KafkaArgs::local(&bootstrap).client_config(&[]).create()?;
            let names: Vec<&str> = topic.iter().map(String::as_str).collect();
            admin.delete_topics(&names, &AdminOptions::new()).await?;
        }
        Command::WaitMetric {
            port,
            name,
            at_least,
            timeout_secs,
        } => {
            let started = Instant::now();
            loop {
                if metric(port, &name).await.is_some_and(|v| v >= at_least) {
                    println!("{:.3}", started.elapsed().as_secs_f64());
                    return Ok(());
                }
                if started.elapsed() > Duration::from_secs(timeout_secs) {
                    bail!("{name} below {at_least} after {timeout_secs} s");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Command::Latency(args) => latency(args).await?,
        Command::ProduceLatency(args) => produce_latency(args).await?,
        Command::ProduceDrain {
            topic,
            records,
            record_bytes,
            bootstrap,
            kafka_options,
        } => produce_drain(&topic, records, record_bytes, &bootstrap, &kafka_options).await?,
    }
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connect to Postgres (start the local stack with `make up`)")?;
    tokio::spawn(connection);
    Ok(client)
}

/// Value of an unlabelled metric from `GET /metrics`.
async fn metric(port: u16, name: &str) -> Option<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

async fn latency(args: LatencyArgs) -> anyhow::Result<()> {
    let LatencyArgs {
        database_url,
        topic,
        aggregate_type,
        rate,
        seconds,
        payload_bytes,
        bootstrap,
        metrics_url,
        metrics_before,
    } = args;
    let metrics_snapshot = metrics_url.zip(metrics_before);
    let (database_url, topic, bootstrap) = (&database_url, &topic, &bootstrap);
    let aggregate_type = &aggregate_type;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-{}", now_micros()))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut assignment = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            assignment.add_partition_offset(topic, p.id(), Offset::End)?;
        }
    }
    consumer.assign(&assignment)?;
    // Give the consumer its fetch positions before the first insert.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let client = connect(database_url).await?;
    // Warm-up, not measured: one marker row, waited for until the consumer has it. A relay that
    // just (re)started first re-decodes the WAL between its slot's restart_lsn and
    // confirmed_flush_lsn (Postgres moves restart_lsn only past a running-transactions record a
    // client confirmed; after a large backlog and an idle gap that can be the whole backlog):
    // a start-up cost, reported here on its own instead of inside the steady-state figures.
    let started = Instant::now();
    client
        .execute(
            INSERT_ROWS,
            &[&aggregate_type, &-1_i64, &1_i64, &payload_bytes],
        )
        .await?;
    let warm_deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if Instant::now() > warm_deadline {
            bail!("warm-up marker not consumed within 120 s: is the relay running?");
        }
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            break;
        }
    }
    println!(
        "warm-up: the marker row took {:.1} ms from insert to consume (relay start-up catch-up)",
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Some((url, path)) = metrics_snapshot {
        let status = std::process::Command::new("curl")
            .args(["-sf", "-o", &path, &url])
            .status()?;
        if !status.success() {
            bail!("curl {url}: {status}");
        }
    }
    let total = rate * seconds;
    let (tag, topic_owned) = (aggregate_type.to_owned(), topic.to_owned());
    let writer = tokio::spawn(async move {
        // 100 ticks per second, rate/100 rows per transaction.
        let per_tick = (rate / 100).max(1) as i64;
        let mut ticker = tokio::time::interval(Duration::from_millis(10));
        let mut sent: i64 = 0;
        while sent < total as i64 {
            ticker.tick().await;
            let count = per_tick.min(total as i64 - sent);
            client
                .execute(INSERT_ROWS, &[&tag, &sent, &count, &payload_bytes])
                .await?;
            sent += count;
        }
        anyhow::Ok(sent)
    });

    let mut latencies_us: Vec<i64> = Vec::with_capacity(total as usize);
    // Seconds since the first record at which a record took longer than SLOW_US: tells a
    // warm-up effect (all at the start) from a periodic one (spread out).
    const SLOW_US: i64 = 20_000;
    let mut slow_at: Vec<u64> = Vec::new();
    // Per wall-clock second in which slow records were *written* (the insert's timestamp is in
    // the payload): how many, and the slowest. Matched against broker GC pauses and Postgres
    // checkpoints by bench/match_slow.py.
    let mut slow_by_write_second: std::collections::BTreeMap<i64, (u32, i64)> =
        std::collections::BTreeMap::new();
    let mut first_received: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(seconds + 60);
    while (latencies_us.len() as u64) < total && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            Ok(Ok(message)) => {
                let received = now_micros();
                let written: Option<i64> = message
                    .payload()
                    .and_then(|p| std::str::from_utf8(p.get(..16)?).ok()?.parse().ok());
                if let Some(written) = written {
                    let latency = received - written;
                    let since_first = first_received.get_or_insert_with(Instant::now).elapsed();
                    if latency > SLOW_US {
                        slow_at.push(since_first.as_secs());
                        let second = slow_by_write_second
                            .entry(written.div_euclid(1_000_000))
                            .or_default();
                        second.0 += 1;
                        second.1 = second.1.max(latency);
                    }
                    latencies_us.push(latency);
                }
            }
            Ok(Err(e)) => bail!("consume {topic_owned}: {e}"),
            Err(_) => {}
        }
    }
    writer.await??;
    if latencies_us.is_empty() {
        bail!("no records consumed");
    }
    latencies_us.sort_unstable();
    let q = |p: f64| {
        let index = ((latencies_us.len() as f64 - 1.0) * p).round() as usize;
        latencies_us[index] as f64 / 1000.0
    };
    println!(
        "rate {rate}/s for {seconds} s: {} of {total} records; insert→consume latency ms: p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
        latencies_us.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0)
    );
    slow_at.dedup();
    println!(
        "records over {} ms arrived in second(s) {slow_at:?} of the run",
        SLOW_US / 1000
    );
    for (second, (count, slowest_us)) in &slow_by_write_second {
        println!(
            "slow write second {second} (unix): {count} record(s) over {} ms, slowest {:.1} ms",
            SLOW_US / 1000,
            *slowest_us as f64 / 1000.0
        );
    }
    println!("histogram (ms, upper bound: count)");
    let mut bound = 1.0_f64;
    let mut index = 0;
    while index < latencies_us.len() {
        let mut count = 0;
        while index < latencies_us.len() && (latencies_us[index] as f64 / 1000.0) <= bound {
            count += 1;
            index += 1;
        }
        if count > 0 {
            let bar = "#".repeat(((count * 60) / latencies_us.len()).max(1));
            println!("  <= {bound:>7.0} ms: {count:>7} {bar}");
        }
        bound *= 2.0;
    }
    Ok(())
}

/// Delivery callbacks of the producer-only baseline: send → acknowledgement of every record sent
/// after the warm-up, in microseconds (the opaque value is the send time, µs since `started`).
struct LatencyContext {
    started: Instant,
    measure_from_us: u64,
    samples: std::sync::Mutex<Vec<u64>>,
    failed: std::sync::atomic::AtomicU64,
}

impl rdkafka::ClientContext for LatencyContext {}

impl rdkafka::producer::ProducerContext for LatencyContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, sent_us: usize) {
        if result.is_err() {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let sent_us = sent_us as u64;
        if sent_us >= self.measure_from_us {
            let now_us = self.started.elapsed().as_micros() as u64;
            if let Ok(mut samples) = self.samples.lock() {
                samples.push(now_us.saturating_sub(sent_us));
            }
        }
    }
}

/// The relay's producer settings (its defaults, then `KEY=VALUE` overrides).
fn relay_producer_config(bootstrap: &str, overrides: &[String]) -> anyhow::Result<ClientConfig> {
    let mut config = KafkaArgs::local(bootstrap)
        .client_config(&cdc_relay::infrastructure::kafka::PRODUCER_DEFAULTS);
    for option in overrides {
        let (key, value) = option
            .split_once('=')
            .with_context(|| format!("--kafka-option {option}: expected KEY=VALUE"))?;
        config.set(key, value);
    }
    Ok(config)
}

/// One record as the relay sends it: a key among 1,000 aggregates, the payload, an `id` header.
fn baseline_record<'a, T: rdkafka::util::IntoOpaque>(
    topic: &'a str,
    opaque: T,
    key: &'a str,
    payload: &'a [u8],
    id: &str,
) -> rdkafka::producer::BaseRecord<'a, str, [u8], T> {
    use rdkafka::message::{Header, OwnedHeaders};
    rdkafka::producer::BaseRecord::with_opaque_to(topic, opaque)
        .key(key)
        .payload(payload)
        .headers(OwnedHeaders::new().insert(Header {
            key: "id",
            value: Some(id),
        }))
}

async fn produce_drain(
    topic: &str,
    records: u64,
    record_bytes: usize,
    bootstrap: &str,
    overrides: &[String],
) -> anyhow::Result<()> {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};

    let producer: ThreadedProducer<DefaultProducerContext> =
        relay_producer_config(bootstrap, overrides)?.create()?;
    let payload = vec![b'x'; record_bytes];
    let started = Instant::now();
    for n in 0..records {
        let key = format!("agg-{}", n % 1000);
        let id = format!("{n:036}");
        let mut record = baseline_record(topic, (), &key, &payload, &id);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                // librdkafka's queue is full (the relay waits the same way).
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => bail!("send to {topic}: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "producer only: {records} records acknowledged in {secs:.3} s = {:.0} records/s",
        records as f64 / secs
    );
    Ok(())
}

async fn produce_latency(args: ProduceLatencyArgs) -> anyhow::Result<()> {
    use rdkafka::producer::{Producer, ThreadedProducer};

    let config = relay_producer_config(&args.bootstrap, &args.kafka_options)?;
    let context = LatencyContext {
        started: Instant::now(),
        measure_from_us: args.warmup_seconds * 1_000_000,
        samples: std::sync::Mutex::new(Vec::new()),
        failed: std::sync::atomic::AtomicU64::new(0),
    };
    let producer: ThreadedProducer<LatencyContext> = config.create_with_context(context)?;
    let payload = vec![b'x'; args.record_bytes];
    let total = args.rate * (args.warmup_seconds + args.seconds);
    let started = producer.context().started;
    let mut sent = 0_u64;
    while sent < total {
        // Records due by now at the steady rate; the loop wakes every millisecond.
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as u64).min(total);
        while sent < due {
            let key = format!("agg-{}", sent % 1000);
            let id = format!("{sent:036}");
            let sent_us = started.elapsed().as_micros() as usize;
            let record = baseline_record(&args.topic, sent_us, &key, &payload, &id);
            match producer.send(record) {
                Ok(()) => sent += 1,
                Err((e, _)) => bail!("send to {}: {e}", args.topic),
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    producer.flush(Duration::from_secs(60))?;
    let context = producer.context();
    let failed = context.failed.load(std::sync::atomic::Ordering::Relaxed);
    let mut samples = context
        .samples
        .lock()
        .map_err(|_| anyhow::anyhow!("latency samples poisoned"))?
        .clone();
    if samples.is_empty() || failed > 0 {
        bail!("{} records measured, {failed} failed", samples.len());
    }
    samples.sort_unstable();
    let q = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0;
    println!(
        "producer only, rate {}/s for {} s after {} s warm-up: {} records; send→ack latency ms: p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
        args.rate,
        args.seconds,
        args.warmup_seconds,
        samples.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0)
    );
    Ok(())
}
