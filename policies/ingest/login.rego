# Login-failure burst detection (Warren's example policy, seed 000) -> ingest.login.
#
# (testing_environments is the seed's test_environments: OPA runs every rule named test_* as a test.)
# Input: {"event_type": "login_failure", "failure_count", "time_window_minutes", "source_ip",
#         "username", "target_system", "time_of_day": "HH:MM", "source_country"}.
# Alerts on more than 10 failures within at most 5 minutes, except (each a reason in `ignore`):
#   - service accounts logging in from the internal network (net.cidr_contains: the original
#     example compared the IP with the CIDR strings, which never matches),
#   - test_* users on test environments,
#   - backup users between 02:00 and 05:00 from JP/US/GB (the nightly backup window).
package ingest.login

import rego.v1

internal_network := ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]

service_accounts := {"monitoring_service", "backup_service", "health_check"}

testing_environments := {"test-env", "staging-env", "dev-env"}

backup_users := {"backup_user", "batch_processor"}

backup_countries := {"JP", "US", "GB"}

burst if {
	input.event_type == "login_failure"
	input.failure_count > 10
	input.time_window_minutes <= 5
}

internal_source if {
	some cidr in internal_network
	net.cidr_contains(cidr, input.source_ip)
}

ignore contains sprintf("service account %s from internal network %s", [input.username, input.source_ip]) if {
	internal_source
	input.username in service_accounts
}

ignore contains sprintf("test user %s on test environment %s", [input.username, input.target_system]) if {
	input.target_system in testing_environments
	regex.match(`^test_.*`, input.username)
}

ignore contains sprintf("backup window %s: %s from %s", [input.time_of_day, input.username, input.source_country]) if {
	input.time_of_day >= "02:00"
	input.time_of_day <= "05:00"
	input.source_country in backup_countries
	input.username in backup_users
}

ignore contains sprintf("not a login failure burst (%v failures in %v minutes)", [object.get(input, "failure_count", null), object.get(input, "time_window_minutes", null)]) if {
	not burst
}

alerts contains {
	"title": sprintf("Multiple login failures from %s", [input.source_ip]),
	"description": sprintf("%d failed login attempts in %d minutes", [input.failure_count, input.time_window_minutes]),
	"attributes": [{"key": c[0], "value": c[1]} |
		some c in [
			["source_ip", input.source_ip],
			["username", object.get(input, "username", "")],
			["failure_count", format_int(input.failure_count, 10)],
			["target_system", object.get(input, "target_system", "")],
			["source_country", object.get(input, "source_country", "")],
			["severity", "high"],
		]
		is_string(c[1])
		c[1] != ""
	],
	"tags": ["login", "high"],
	"severity": "high",
} if {
	burst
	count(ignore) == 0
}
