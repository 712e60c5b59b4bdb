"""The claims machinery: paired statistics, claim rows with verdicts and their tables,
per-example outcomes, and the simulation of the seed-level test."""
