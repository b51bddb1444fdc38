-- Hourly aggregates fed by materialized views on findings. Every count is a
-- uniqExact over ids (for messages and rejections: "<finding id>-<n>"), so a
-- re-delivered finding does not count twice. Read with uniqExactMerge and
-- uniqExactArrayMerge.
CREATE TABLE IF NOT EXISTS {{local "hourly_by_source"}}{{onCluster}} (
    hour DateTime, client {{ip}}, class {{lc}},
    findings AggregateFunction(uniqExact, String),
    messages AggregateFunction(uniqExactArray, Array(String)),
    rejections AggregateFunction(uniqExactArray, Array(String))
) ENGINE = {{aggEngine "hourly_by_source"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (client, hour, class){{ttl "hour"}};
{{distributed "hourly_by_source" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "hourly_by_source_mv"}}{{onCluster}}
TO {{local "hourly_by_source"}} AS
SELECT toStartOfHour(start) AS hour, client, class,
    uniqExactState(id) AS findings,
    uniqExactArrayState(arrayMap(i -> concat(id, '-', toString(i)), range(messages))) AS messages,
    uniqExactArrayState(arrayMap(i -> concat(id, '-', toString(i)), range(rejected))) AS rejections
FROM {{local "findings"}}
GROUP BY hour, client, class;

CREATE TABLE IF NOT EXISTS {{local "hourly_by_group"}}{{onCluster}} (
    hour DateTime, dest_group {{lc}}, class {{lc}}, sensitive UInt8,
    findings AggregateFunction(uniqExact, String),
    sources AggregateFunction(uniqExact, {{ip}}),
    messages AggregateFunction(uniqExactArray, Array(String)),
    rejections AggregateFunction(uniqExactArray, Array(String))
) ENGINE = {{aggEngine "hourly_by_group"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (dest_group, hour, class, sensitive){{ttl "hour"}};
{{distributed "hourly_by_group" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "hourly_by_group_mv"}}{{onCluster}}
TO {{local "hourly_by_group"}} AS
SELECT toStartOfHour(start) AS hour, dest_group, class, sensitive,
    uniqExactState(id) AS findings,
    uniqExactState(client) AS sources,
    uniqExactArrayState(arrayMap(i -> concat(id, '-', toString(i)), range(messages))) AS messages,
    uniqExactArrayState(arrayMap(i -> concat(id, '-', toString(i)), range(rejected))) AS rejections
FROM {{local "findings"}}
GROUP BY hour, dest_group, class, sensitive
