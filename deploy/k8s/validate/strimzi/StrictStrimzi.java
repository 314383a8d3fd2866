// Strict decoding of Strimzi custom resources into Strimzi's own Java API model (io.strimzi:api,
// version in pom.xml), run by scripts/k8s-validate.sh through deploy/k8s/validate/validate.py.
//
// Input: a file of JSON lines, one Kubernetes object per line (already rendered by kustomize and
// routed here because its group is kafka.strimzi.io). Output: one line per object, "ok KIND/NAME"
// or "error KIND/NAME: reason"; the exit status is 1 when any object failed.
//
// Strictness: Strimzi's model classes keep unknown fields in an @JsonAnySetter map
// (additionalProperties) instead of failing. A BeanDeserializerModifier removes every any-setter,
// so with FAIL_ON_UNKNOWN_PROPERTIES an unknown or misspelled field (at any depth, metadata
// included) is an error that names its path. The model does not enforce required fields, so the
// ones the operator needs are checked here by hand (see requireFields).
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.BeanDeserializerBuilder;
import com.fasterxml.jackson.databind.deser.BeanDeserializerModifier;
import com.fasterxml.jackson.databind.module.SimpleModule;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import io.strimzi.api.kafka.model.topic.KafkaTopic;
import io.strimzi.api.kafka.model.user.KafkaUser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

public final class StrictStrimzi {
    private static final Map<String, Class<?>> KINDS = Map.of(
            "KafkaTopic", KafkaTopic.class,
            "KafkaUser", KafkaUser.class,
            "Kafka", Kafka.class,
            "KafkaNodePool", KafkaNodePool.class);
    // The API versions of kafka.strimzi.io that this model version serves.
    private static final Set<String> API_VERSIONS = Set.of("kafka.strimzi.io/v1", "kafka.strimzi.io/v1beta2");

    public static void main(String[] args) throws Exception {
        ObjectMapper mapper = new ObjectMapper()
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                .registerModule(new SimpleModule().setDeserializerModifier(new BeanDeserializerModifier() {
                    @Override
                    public BeanDeserializerBuilder updateBuilder(DeserializationConfig config, BeanDescription bean,
                            BeanDeserializerBuilder builder) {
                        builder.setAnySetter(null);
                        return builder;
                    }
                }));
        boolean failed = false;
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode node = mapper.readTree(line);
            String kind = node.path("kind").asText();
            String id = kind + "/" + node.path("metadata").path("name").asText("<no name>");
            List<String> errors = new ArrayList<>();
            Class<?> type = KINDS.get(kind);
            if (type == null) {
                errors.add("no Strimzi model class for kind " + kind + " (known: " + KINDS.keySet() + ")");
            } else {
                if (!API_VERSIONS.contains(node.path("apiVersion").asText())) {
                    errors.add("apiVersion " + node.path("apiVersion").asText() + " is not one of " + API_VERSIONS);
                }
                try {
                    mapper.treeToValue(node, type);
                } catch (JsonMappingException e) {
                    String path = e.getPath().stream()
                            .map(r -> r.getFieldName() != null ? "." + r.getFieldName() : "[" + r.getIndex() + "]")
                            .collect(Collectors.joining()).replaceFirst("^\\.", "");
                    errors.add("field " + path + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
                }
                requireFields(kind, node, errors);
            }
            if (errors.isEmpty()) {
                System.out.println("ok " + id);
            } else {
                failed = true;
                for (String error : errors) {
                    System.out.println("error " + id + ": " + error);
                }
            }
        }
        System.exit(failed ? 1 : 0);
    }

    // What the operator needs but the model does not enforce.
    private static void requireFields(String kind, JsonNode node, List<String> errors) {
        require(node, "metadata.name", errors);
        require(node, "spec", errors);
        if (!kind.equals("Kafka")) {
            // Topic, user and node pool are picked up only by the cluster named in this label.
            if (node.path("metadata").path("labels").path("strimzi.io/cluster").asText("").isEmpty()) {
                errors.add("field metadata.labels.strimzi.io/cluster: required (names the Kafka cluster)");
            }
        }
        switch (kind) {
            case "KafkaTopic" -> {
                require(node, "spec.partitions", errors);
                require(node, "spec.replicas", errors);
            }
            case "KafkaUser" -> require(node, "spec.authentication.type", errors);
            case "KafkaNodePool" -> {
                require(node, "spec.replicas", errors);
                require(node, "spec.roles", errors);
                require(node, "spec.storage.type", errors);
            }
            case "Kafka" -> require(node, "spec.kafka.listeners", errors);
            default -> { }
        }
    }

    private static void require(JsonNode node, String dotted, List<String> errors) {
        JsonNode at = node;
        for (String part : dotted.split("\\.")) {
            at = at.path(part);
        }
        if (at.isMissingNode() || at.isNull() || (at.isTextual() && at.asText().isEmpty())) {
            errors.add("field " + dotted + ": required");
        }
    }
}
