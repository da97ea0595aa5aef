"""Parses two /metrics snapshots (before and after the browser test's traffic) with the real
Prometheus text-format parser (prometheus_client) and checks that the counters moved as
expected. Usage: metrics_check.py BEFORE AFTER"""

import sys

from prometheus_client.parser import text_string_to_metric_families


def parse(path):
    """{(sample name, sorted labels): value}, and {family name: type}."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    samples, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"missing {name}{labels}"
    return samples[key]


def main(before_path, after_path):
    before, types = parse(before_path)
    after, _ = parse(after_path)
    assert types.get("switchyard_connections") == "gauge", types
    assert types.get("switchyard_messages_received") == "counter", types
    assert types.get("switchyard_closes") == "counter", types
    grew = [
        ("switchyard_messages_received_total", {}),
        ("switchyard_messages_sent_total", {}),
        ("switchyard_received_bytes_total", {}),
        ("switchyard_sent_bytes_total", {}),
        ("switchyard_connections_opened_total", {}),
        ("switchyard_handshakes_total", {"result": "accepted"}),
        ("switchyard_http_requests_total", {}),
    ]
    for name, labels in grew:
        old, new = value(before, name, **labels), value(after, name, **labels)
        assert new > old, f"{name}{labels} did not grow: {old} -> {new}"
    assert value(after, "switchyard_connections") >= 1, "the test client is open in the second snapshot"
    assert value(after, "switchyard_uptime_seconds") > value(before, "switchyard_uptime_seconds")
    workers = [v for (name, _), v in after.items() if name == "switchyard_worker_connections"]
    assert len(workers) == 2 and sum(workers) == value(after, "switchyard_connections"), workers
    print(f"metrics: {len(after)} samples in {len(types)} families parsed by prometheus_client; counters moved as expected")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
