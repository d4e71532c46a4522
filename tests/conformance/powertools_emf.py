"""Writes each case's metric with AWS Lambda Powertools' Metrics and prints
the EMF documents, one JSON array on stdout (offline: nothing is sent)."""
import json
import sys
import warnings

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

warnings.simplefilter("ignore")
out = []
for case in json.load(sys.stdin):
    metrics = Metrics(namespace=case["namespace"], service=case["service"])
    for name, value in case["dimensions"]:
        metrics.add_dimension(name=name, value=value)
    metrics.add_metric(name=case["name"], unit=MetricUnit[case["unit"]], value=case["value"])
    metrics.set_timestamp(case["timestamp"])
    out.append(metrics.serialize_metric_set())
    metrics.clear_metrics()
    metrics.clear_default_dimensions()
print(json.dumps(out))
