-- The kept dead letters of a topic, for the operator commands. $1 topic
SELECT partition, "offset", cause, detail FROM kept_dead_letters WHERE topic = $1
