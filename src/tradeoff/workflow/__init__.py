"""The workflow's plumbing: config validation and the job planner, costing, run-settings
checks, cluster resources, publishing committed results and their manifest, Snakemake
workarounds. Above the stages; no science here."""
