-- Event tables. One row per event; ReplacingMergeTree collapses rows with
-- the same sorting key (which ends in the deterministic event id) at merge
-- time, so queries count with FINAL or uniqExact(id).
CREATE TABLE IF NOT EXISTS {{local "sessions"}}{{onCluster}} (
    id String, sensor {{lc}}, start {{dt}}, end {{dt}},
    client {{ip}}, client_port UInt16, server {{ip}}, server_port UInt16,
    vlans Array(UInt16), tunnel {{lc}}, handshake {{lc}}, close {{lc}},
    syns UInt32, connect_rtt_us Int64,
    bytes_c2s UInt64, bytes_s2c UInt64, pkts_c2s UInt64, pkts_s2c UInt64,
    gaps UInt32, gap_bytes UInt64, tls {{lc}}, banner String,
    helo_verb {{lc}}, helo String, extensions Array(String),
    auth_mechanism {{lc}}, auth_outcome {{lc}}, auth_code UInt16,
    command_verbs Array(String), command_counts Array(UInt32), messages UInt32,
    reply_cmds Array(String), reply_codes Array(UInt16), reply_enhanced Array(String), reply_texts Array(String),
    flags Array(String)
) ENGINE = {{engine "sessions"}}
PARTITION BY toYYYYMMDD(start)
ORDER BY (client, start, id){{ttl "start"}};
{{distributed "sessions" "cityHash64(toString(client))"}};

CREATE TABLE IF NOT EXISTS {{local "messages"}}{{onCluster}} (
    id String, sensor {{lc}}, session String, idx UInt32, start {{dt}}, end {{dt}},
    client {{ip}}, client_port UInt16, server {{ip}}, server_port UInt16, vlans Array(UInt16), helo String,
    mail_from String, mail_from_domain String, mail_params Array(String), mail_code UInt16,
    rcpt_addrs Array(String), rcpt_domains Array(String), rcpt_codes Array(UInt16), rcpt_enhanced Array(String),
    rcpt_dropped UInt32, method {{lc}}, size Int64, header_bytes UInt32, complete UInt8,
    from_header String, to_count UInt32, cc_count UInt32, subject String, date_header String,
    message_id String, message_id_host String, x_mailer String, user_agent String,
    php_uid String, php_script_path String, x_php_script String, received_count UInt32,
    header_names Array(String), first_received String,
    final_cmd {{lc}}, final_code UInt16, final_enhanced String, final_text String,
    outcome {{lc}}, flags Array(String)
) ENGINE = {{engine "messages"}}
PARTITION BY toYYYYMMDD(start)
ORDER BY (client, start, id){{ttl "start"}};
{{distributed "messages" "cityHash64(toString(client))"}};

CREATE TABLE IF NOT EXISTS {{local "dns_answers"}}{{onCluster}} (
    id String, sensor {{lc}}, time {{dt}}, query_time {{dt}},
    client {{ip}}, client_port UInt16, server {{ip}}, server_port UInt16, vlans Array(UInt16),
    transport {{lc}}, txid UInt16, qname String, qtype {{lc}}, rcode {{lc}},
    tc UInt8, edns UInt8, matched UInt8,
    answer_names Array(String), answer_types Array(String), answer_ttls Array(UInt32),
    answer_prefs Array(UInt16), answer_hosts Array(String), answer_addrs Array(String),
    additional_names Array(String), additional_types Array(String), additional_ttls Array(UInt32),
    additional_prefs Array(UInt16), additional_hosts Array(String), additional_addrs Array(String)
) ENGINE = {{engine "dns_answers"}}
PARTITION BY toYYYYMMDD(time)
ORDER BY (client, time, id){{ttl "time"}};
{{distributed "dns_answers" "cityHash64(toString(client))"}};

CREATE TABLE IF NOT EXISTS {{local "findings"}}{{onCluster}} (
    id String, sensor {{lc}}, start {{dt}}, end {{dt}},
    client {{ip}}, client_port UInt16, server {{ip}}, server_port UInt16, vlans Array(UInt16),
    class {{lc}}, confidence {{lc}}, reason String,
    pair_by {{lc}}, pair_domain String, pair_mx_host String, pair_mx_pref UInt16,
    pair_lookup_time {{dt}}, pair_delay_ms Int64, pair_resolver String, pair_lookup_client String, pair_via {{lc}},
    server_name String, handshake {{lc}}, tls {{lc}}, auth UInt8, helo String,
    customer String, account String, cluster String, site String, egress String,
    scripts Array(String), message_id_hosts Array(String), relay_bypass UInt8,
    dest_group {{lc}}, sensitive UInt8,
    messages UInt32, accepted UInt32, rejected UInt32, tempfailed UInt32, recipients UInt32,
    rcpt_domains Array(String),
    bl_signatures Array(String), bl_lists Array(String), bl_types Array(String), bl_reasons Array(String),
    bl_codes Array(UInt16), bl_enhanced Array(String), bl_cmds Array(String), bl_texts Array(String)
) ENGINE = {{engine "findings"}}
PARTITION BY toYYYYMMDD(start)
ORDER BY (client, start, id){{ttl "start"}};
{{distributed "findings" "cityHash64(toString(client))"}};

CREATE TABLE IF NOT EXISTS {{local "alerts"}}{{onCluster}} (
    id String, sensor {{lc}}, rule {{lc}}, scope {{lc}}, source String, host String, customer String,
    dest_group {{lc}}, metric {{lc}}, window_start {{dt}}, time {{dt}}, window_ms Int64,
    observed Float64, baseline Float64, threshold Float64, severity {{lc}}, summary String,
    top_scripts Array(String), top_domains Array(String), top_rejections Array(String)
) ENGINE = {{engine "alerts"}}
PARTITION BY toYYYYMMDD(time)
ORDER BY (source, time, id){{ttl "time"}};
{{distributed "alerts" "cityHash64(id)"}}
