# Benchmark (b): a heavy detection policy over a generic identity/audit alert.
# 50 rules, a dozen regex.match calls, an allow-list of 1,000 CIDRs checked with
# net.cidr_contains over the list and an allow-list of 1,000 user names
# (bench/rego/heavy/data.json). The input's address and user are in neither list,
# so every evaluation walks both lists to the end (the worst case).
# Query: data.alert.heavy.decision
package alert.heavy

import rego.v1

actor := input.actor.name

src_ip := input.client.ip

# ---- allow-lists (data)
trusted_network if {
	some cidr in data.allow.cidrs
	net.cidr_contains(cidr, src_ip)
}

trusted_user if actor in data.allow.users

# ---- classification by regular expressions
is_scanner_ua if regex.match(`(?i)(curl|wget|python-requests|go-http-client|nikto|sqlmap|masscan)`, input.client.user_agent)

is_corp_account if regex.match(`^[a-z0-9._%+-]+@example\.com$`, actor)

is_admin_account if regex.match(`^(admin|root|administrator|sysadmin)[0-9]*@`, actor)

is_service_account if regex.match(`^svc-[a-z0-9-]+@`, actor)

is_ec2_host if regex.match(`^ip-[0-9]+-[0-9]+-[0-9]+-[0-9]+\.[a-z0-9-]+\.compute\.internal$`, input.host.name)

sensitive_path if regex.match(`^/api/v[0-9]+/(authn|admin|keys|tokens)(/|$)`, input.request.path)

path_traversal if regex.match(`(\.\./|%2e%2e%2f)`, input.request.path)

sql_injection if regex.match(`(?i)(union\s+select|or\s+1\s*=\s*1|sleep\s*\()`, input.request.query)

session_event if regex.match(`^user\.(session|authentication)\.`, input.event.type)

prod_tagged if {
	some tag in input.tags
	regex.match(`^env:(prod|production)$`, tag)
}

valid_timestamp if regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}`, input.event.time)

console_app if {
	some app in input.targets
	regex.match(`(?i)console|admin`, app.name)
}

# ---- context
blocked_country if input.client.geo.country in data.config.blocked_countries

hour := to_number(substring(input.event.time, 11, 2))

off_hours if hour < data.config.business_hours.start

off_hours if hour >= data.config.business_hours.end

many_failures if input.stats.failures_1h >= 10

mfa_missing if input.auth.mfa != true

privileged_role if {
	some r in input.actor.roles
	startswith(r, "admin")
}

external_ip if not trusted_network

unknown_user if not trusted_user

# ---- scoring
default base := 0

base := input.severity if is_number(input.severity)

points["scanner"] := 3 if is_scanner_ua

points["admin"] := 2 if is_admin_account

points["sensitive_path"] := 2 if sensitive_path

points["traversal"] := 4 if path_traversal

points["sqli"] := 4 if sql_injection

points["country"] := 3 if blocked_country

points["off_hours"] := 1 if off_hours

points["failures"] := 2 if many_failures

points["no_mfa"] := 2 if mfa_missing

points["privileged"] := 2 if privileged_role

points["external"] := 1 if external_ip

points["unknown_user"] := 1 if unknown_user

score := base + sum([p | some p in points])

severity := "critical" if score >= 20
else := "high" if score >= 12
else := "medium" if score >= 6
else := "low"

# ---- decisions
default is_service_account := false

default alert := false

ignore if input.severity < data.config.min_severity

ignore if {
	trusted_user
	trusted_network
	not path_traversal
	not sql_injection
}

alert if {
	not ignore
	score >= 6
}

attrs := {
	"actor": actor,
	"ip": src_ip,
	"country": input.client.geo.country,
	"host": input.host.name,
	"path": input.request.path,
	"reasons": concat(",", sort([name | some name, _ in points])),
	"corp": is_corp_account,
	"ec2": is_ec2_host,
	"prod": prod_tagged,
	"service": is_service_account,
}

decision := {
	"alert": alert,
	"severity": severity,
	"score": score,
	"title": sprintf("%s: %s from %s (%s), score %d", [input.event.type, actor, src_ip, input.client.geo.country, score]),
	"attrs": attrs,
	"session": session_event,
	"console": console_app,
	"valid_time": valid_timestamp,
}
