-- The lookup->connect delay in microseconds: pair_delay_ms rounds the
-- short delays of scripts (a few milliseconds) too coarsely for reports.
-- Rows written before this migration get pair_delay_ms * 1000.
ALTER TABLE {{local "findings"}}{{onCluster}}
    ADD COLUMN pair_delay_us Int64 DEFAULT pair_delay_ms * 1000 AFTER pair_delay_ms;
{{if clustered}}ALTER TABLE {{distributedName "findings"}}{{onCluster}}
    ADD COLUMN pair_delay_us Int64 DEFAULT pair_delay_ms * 1000 AFTER pair_delay_ms;{{end}}
