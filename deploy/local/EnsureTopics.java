// The topics of deploy/topics.csv on a broker or cluster, in ONE JVM (run by stack.sh as a
// single-file source program: java -cp '.stack/kafka/libs/*' EnsureTopics.java ...).
//
//   EnsureTopics BOOTSTRAP TOPICS_CSV REPLICATION_FACTOR MIN_INSYNC_REPLICAS
//
// Creates every missing topic (partitions, retention.ms and cleanup.policy from the CSV; the
// given replication factor and min.insync.replicas), grows a topic whose partition count is
// below the CSV's (Kafka cannot shrink one), and leaves everything else as it is. Prints one
// line per change; exits non-zero on any error.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;

public class EnsureTopics {
  record Row(String name, int partitions, String retentionMs, String cleanupPolicy) {}

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: EnsureTopics BOOTSTRAP TOPICS_CSV REPLICATION_FACTOR MIN_INSYNC_REPLICAS");
      System.exit(2);
    }
    String bootstrap = args[0];
    short replication = Short.parseShort(args[2]);
    String minIsr = args[3];
    List<Row> rows = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(args[1]))) {
      if (line.isBlank() || line.startsWith("#")) continue;
      String[] f = line.split(",", 5);
      rows.add(new Row(f[0], Integer.parseInt(f[1]), f[2], f[3]));
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
    try (Admin admin = Admin.create(props)) {
      var existing = admin.listTopics().names().get(60, TimeUnit.SECONDS);
      List<NewTopic> create = new ArrayList<>();
      Map<String, NewPartitions> grow = new HashMap<>();
      List<String> known = rows.stream().map(Row::name).filter(existing::contains).toList();
      Map<String, TopicDescription> described =
          known.isEmpty() ? Map.of() : admin.describeTopics(known).allTopicNames().get(60, TimeUnit.SECONDS);
      for (Row row : rows) {
        if (!existing.contains(row.name())) {
          create.add(new NewTopic(row.name(), row.partitions(), replication)
              .configs(Map.of(
                  "retention.ms", row.retentionMs(),
                  "cleanup.policy", row.cleanupPolicy(),
                  "min.insync.replicas", minIsr)));
          System.out.printf("creating topic %s (%d partitions, replication factor %d, retention.ms=%s)%n",
              row.name(), row.partitions(), replication, row.retentionMs());
        } else {
          int have = described.get(row.name()).partitions().size();
          if (have < row.partitions()) {
            grow.put(row.name(), NewPartitions.increaseTo(row.partitions()));
            System.out.printf("topic %s: %d -> %d partitions%n", row.name(), have, row.partitions());
          }
        }
      }
      if (!create.isEmpty()) admin.createTopics(create).all().get(60, TimeUnit.SECONDS);
      if (!grow.isEmpty()) admin.createPartitions(grow).all().get(60, TimeUnit.SECONDS);
    }
  }
}
