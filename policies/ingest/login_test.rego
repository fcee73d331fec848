package ingest.login_test

import rego.v1

import data.ingest.login

ev(o) := object.union({"event_type": "login_failure", "failure_count": 25, "time_window_minutes": 3, "source_ip": "203.0.113.45",
	"username": "alice", "target_system": "prod-web", "time_of_day": "13:20", "source_country": "NL"}, o)

alerts(o) := x if {
	x := login.alerts with input as ev(o)
}

test_burst_alerts if {
	some b in alerts({})
	b.severity == "high"
	some a in alerts({})
	a.title == "Multiple login failures from 203.0.113.45"
	a.description == "25 failed login attempts in 3 minutes"
}

test_thresholds if {
	count(alerts({"failure_count": 11, "time_window_minutes": 5})) == 1
	count(alerts({"failure_count": 10})) == 0
	count(alerts({"time_window_minutes": 6})) == 0
	count(alerts({"event_type": "login_success"})) == 0
}

test_internal_service_account_ignored if {
	count(alerts({"source_ip": "10.20.30.40", "username": "monitoring_service"})) == 0
	count(alerts({"source_ip": "172.31.255.255", "username": "backup_service"})) == 0
	count(alerts({"source_ip": "192.168.0.1", "username": "health_check"})) == 0
	login.ignore == {"service account health_check from internal network 192.168.0.1"} with input as ev({"source_ip": "192.168.0.1", "username": "health_check"})
}

test_internal_boundaries if {
	# service account from outside the internal ranges, or a person from inside: alert
	count(alerts({"source_ip": "172.32.0.1", "username": "monitoring_service"})) == 1
	count(alerts({"source_ip": "11.0.0.1", "username": "monitoring_service"})) == 1
	count(alerts({"source_ip": "10.0.0.1", "username": "alice"})) == 1
}

test_test_environment_ignored if {
	count(alerts({"target_system": "staging-env", "username": "test_runner"})) == 0
	login.ignore == {"test user test_runner on test environment staging-env"} with input as ev({"target_system": "staging-env", "username": "test_runner"})
	count(alerts({"target_system": "prod-web", "username": "test_runner"})) == 1
	count(alerts({"target_system": "dev-env", "username": "runner_test"})) == 1
}

test_backup_window_ignored if {
	count(alerts({"username": "backup_user", "time_of_day": "02:00", "source_country": "JP"})) == 0
	count(alerts({"username": "batch_processor", "time_of_day": "05:00", "source_country": "US"})) == 0
	count(alerts({"username": "backup_user", "time_of_day": "03:30", "source_country": "GB"})) == 0
}

test_backup_window_boundaries if {
	count(alerts({"username": "backup_user", "time_of_day": "01:59", "source_country": "JP"})) == 1
	count(alerts({"username": "backup_user", "time_of_day": "05:01", "source_country": "JP"})) == 1
	count(alerts({"username": "backup_user", "time_of_day": "03:00", "source_country": "CN"})) == 1
	count(alerts({"username": "alice", "time_of_day": "03:00", "source_country": "JP"})) == 1
}
