# Reads a Prometheus histogram (cumulative `_bucket{le=...}` lines of ONE metric) and prints the
# per-bucket counts as a text histogram, then p50/p99/p99.9 as "<= bucket bound" in ms, one per
# line ("p99 <= 6.0"), which run.sh reads.
# Usage: curl -s host/metrics | awk -v metric=cdc_relay_commit_to_ack_seconds -f histogram.awk
# With -v before=FILE (an earlier scrape of the same process), only what was recorded between
# the two scrapes counts: its bucket counts are subtracted.
BEGIN {
  if (before != "") {
    while ((getline line < before) > 0) {
      split(line, f, " ")
      if (f[1] ~ "^" metric "_bucket") { match(f[1], /le="[^"]*"/); base[substr(f[1], RSTART + 4, RLENGTH - 5)] = f[2] }
    }
    close(before)
  }
}
$1 ~ "^" metric "_bucket" {
  match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
  n++; bound[n] = le; cum[n] = $2 - base[le]
}
END {
  if (n == 0 || cum[n] == 0) { print "  (no samples)"; exit }
  total = cum[n]; prev = 0
  for (i = 1; i <= n; i++) {
    c = cum[i] - prev; prev = cum[i]
    if (c == 0) continue
    bar = ""; w = int(50 * c / total); for (j = 0; j < w; j++) bar = bar "#"
    label = (bound[i] == "+Inf") ? "+Inf" : sprintf("%.1f ms", bound[i] * 1000)
    printf "  <= %-9s %8d %s\n", label, c, bar
  }
  split("0.5 0.99 0.999", qs, " ")
  for (k = 1; k <= 3; k++) {
    for (i = 1; i <= n; i++) if (cum[i] >= qs[k] * total) break
    label = (bound[i] == "+Inf") ? "+Inf" : sprintf("%.1f", bound[i] * 1000)
    printf "p%s <= %s\n", qs[k] * 100, label
  }
  printf "samples: %d\n", total
}
