-- How many dead letters are kept (the dlq_handler_kept_dead_letters gauge).
SELECT count(*) FROM kept_dead_letters
