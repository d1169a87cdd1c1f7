"""The national reporting cycle (SPEC §3.9, §3.10, §5): monthly reports to the county and what the
county reviews. No Flask; nothing commits."""
