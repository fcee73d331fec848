package ingest.github_test

import rego.v1

import data.ingest.github

ev(action, o) := object.union({"action": action, "actor": "mallory", "actor_ip": "198.51.100.31", "actor_location": {"country_code": "NL"},
	"org": "acme", "repo": "acme/api", "created_at": 1767225600000, "@timestamp": 1767225600000}, o)

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_secret_scanning_disabled if {
	some a in github.alerts with input as ev("secret_scanning.disable", {})
	a.title == "GitHub: Secret scanning disabled (acme/api)"
	a.severity == "high"
	attr(a, "actor") == {"mallory"}
	attr(a, "actor_ip") == {"198.51.100.31"}
	attr(a, "target") == {"acme/api"}
	some x in a.attributes
	x.key == "action"
	x.link == "https://github.com/organizations/acme/settings/audit-log?q=action%3Asecret_scanning.disable"
}

test_enterprise_event if {
	i := {"action": "business.add_admin", "actor": "root-admin", "business": "acme-ent", "user": "newadmin"}
	some a in github.alerts with input as i
	a.title == "GitHub: Enterprise owner added (newadmin)"
	a.severity == "high"
	some x in a.attributes
	x.key == "action"
	startswith(x.link, "https://github.com/enterprises/acme-ent/settings/audit-log?q=")
}

test_branch_protection if {
	some a in github.alerts with input as ev("protected_branch.policy_override", {"branch": "refs/heads/main"})
	a.severity == "medium"
	attr(a, "branch") == {"refs/heads/main"}
	some b in github.alerts with input as ev("protected_branch.destroy", {})
	b.severity == "high"
}

test_repo_made_public_only if {
	some a in github.alerts with input as ev("repo.access", {"visibility": "public"})
	a.title == "GitHub: Repository visibility changed (acme/api)"
	count(github.alerts) == 0 with input as ev("repo.access", {"visibility": "private"})
	github.ignore == {"repository made private (not public): acme/api"} with input as ev("repo.access", {"visibility": "private"})
}

test_low_severity_actions_alert if {
	some a in github.alerts with input as ev("public_key.create", {})
	a.severity == "low"
}

test_routine_ignored if {
	count(github.alerts) == 0 with input as ev("git.clone", {})
	github.ignore == {"informational audit event: git.clone"} with input as ev("git.clone", {})
	count(github.alerts) == 0 with input as ev("pull_request.merge", {})
}

test_array_of_events if {
	count(github.alerts) == 2 with input as [ev("secret_scanning.disable", {}), ev("hook.create", {}), ev("git.push", {})]
}

test_unrecognised if {
	some a in github.alerts with input as ev("org.brand_new_action", {})
	a.title == "github: unrecognised event (org.brand_new_action)"
	a.severity == "low"
	count(github.alerts) == 0 with input as ev("org.brand_new_action", {}) with data.hutch.config.strict_sources as ["github"]
	some b in github.alerts with input as {"foo": 1}
	b.title == "github: unrecognised event (no action)"
}
