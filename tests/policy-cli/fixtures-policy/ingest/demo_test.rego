package ingest.demo_test

import rego.v1

import data.ingest.demo

test_high_severity_alerts if count(demo.alerts) == 1 with input as {"name": "x", "host": "h", "severity": 9}

test_low_severity_ignored if count(demo.alerts) == 0 with input as {"name": "x", "host": "h", "severity": 1}
