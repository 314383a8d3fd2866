// The partition the Java client (and so Kafka Connect / Debezium) gives a keyed record:
// Kafka's BuiltInPartitioner.partitionForKey = toPositive(murmur2(key bytes)) % partitions.
// Usage: java -cp kafka-clients-<v>.jar JavaPartitioner.java <partitions>  (keys on stdin, one
// per line, UTF-8; prints "<key>\t<partition>" per key).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;

public class JavaPartitioner {
    public static void main(String[] args) throws Exception {
        int partitions = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String key; (key = in.readLine()) != null; ) {
            int p = BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), partitions);
            out.append(key).append('\t').append(p).append('\n');
        }
        System.out.print(out);
    }
}
