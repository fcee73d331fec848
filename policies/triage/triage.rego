# Seed 004's decision engine (automated decision logic by risk score) as Warren's
# triage policy: hutch-agent evaluates `data.triage` on each clustered alert
# (services/agent/triage.h; README "Triage and enrich policies").
#
# It decides login alerts only (tag "login", or schema login or vpn): any other alert
# gets no output, which is the default (publish as an alert, as before).
#
# Risk score (seed 004's table):
#   non-domestic login  +40   the country is not one of home_countries
#   high-risk IP        +30   a threat-intel verdict malicious or suspicious on an IP
#                             of the alert (input.alert.intel, set by hutch-enrich),
#                             an ip_reputation of high or malicious, or an enrich
#                             prompt's result {"high_risk_ip": true} / {"is_malicious": true}
#   new user            +25   new_user true
#   unusual hour        +15   time_of_day (HH:MM) or login_hour outside working hours
#   no MFA              +20   mfa / mfa_used false, no or none
# Each factor is read from the alert's attributes first, then from its raw payload
# (input.alert.data), under the names listed at `field` calls below.
#
# Decision (seed 004's Decision API, in Warren's triage outputs):
#   >= 70  create_case_and_page  publish alert, page true, severity critical
#   40-69  create_case           publish alert
#   < 40   ignore (log only)     publish discard: recorded in triage_decisions, not posted
# The score, the decision and the factors are appended to the alert as attributes.
# "The same IP within 30 minutes joins the open case" is hutch-cluster's binding: an
# alert of the same actor (source IP) and shape binds into the open ticket of the last
# HUTCH_CLUSTER_WINDOW (1 h; 30m for the seed's exact window).
#
# Settings, from a module of the policy directory (the agent loads modules only):
#   package hutch.config
#   home_countries := {"JP"}                                  default {"TH", "THAILAND"}, the seed's
#   working_hours := {"start": "09:00", "end": "18:00"}       default 08:00-20:00
package triage

import rego.v1

default_home_countries := {"TH", "THAILAND"}

default_working_hours := {"start": "08:00", "end": "20:00"}

home_countries := {upper(c) | some c in data.hutch.config.home_countries} if {
	data.hutch.config.home_countries
} else := default_home_countries

working_hours := object.union(default_working_hours, data.hutch.config.working_hours) if {
	data.hutch.config.working_hours
} else := default_working_hours

login if "login" in input.alert.tags

login if input.alert.schema in {"login", "vpn"}

# The first value of the alert's attributes named in keys, else of its payload, as text.
field(keys) := vals[0] if {
	vals := array.concat(
		[a.value | some k in keys; some a in input.alert.metadata.attributes; a.key == k; a.value != ""],
		[text(v) | some k in keys; v := input.alert.data[k]; v != null; v != ""],
	)
	count(vals) > 0
}

text(v) := v if {
	is_string(v)
} else := sprintf("%v", [v])

country := upper(field(["source_country", "country", "geo_country", "srccountry"]))

non_domestic if {
	country != ""
	not country in home_countries
}

high_risk_ip if {
	some v in input.alert.intel
	v.kind == "ip"
	v.verdict in {"malicious", "suspicious"}
}

high_risk_ip if lower(field(["ip_reputation"])) in {"high", "malicious"}

high_risk_ip if {
	some e in input.enrich
	e.result.high_risk_ip == true
}

high_risk_ip if {
	some e in input.enrich
	e.result.is_malicious == true
}

new_user if lower(field(["new_user"])) in {"true", "yes", "1"}

hhmm := field(["time_of_day", "login_time"])

unusual_hour if substring(hhmm, 0, 5) < working_hours.start

unusual_hour if substring(hhmm, 0, 5) >= working_hours.end

unusual_hour if {
	raw := field(["login_hour"])
	regex.match(`^[0-9]{1,2}$`, raw) # anything else is no hour (not an error that would dead-letter the alert)
	h := to_number(raw)
	hh := sprintf("%02d:00", [h])
	not between(hh, working_hours.start, working_hours.end)
}

between(t, start, end) if {
	t >= start
	t < end
}

no_mfa if lower(field(["mfa", "mfa_used"])) in {"false", "no", "none", "0"}

factors contains {"factor": "non_domestic_login", "score": 40} if non_domestic

factors contains {"factor": "high_risk_ip", "score": 30} if high_risk_ip

factors contains {"factor": "new_user", "score": 25} if new_user

factors contains {"factor": "unusual_hour", "score": 15} if unusual_hour

factors contains {"factor": "no_mfa", "score": 20} if no_mfa

risk_score := sum([f.score | some f in factors])

decision := "create_case_and_page" if {
	login
	risk_score >= 70
}

decision := "create_case" if {
	login
	risk_score >= 40
	risk_score < 70
}

decision := "ignore" if {
	login
	risk_score < 40
}

publish := "discard" if decision == "ignore"

publish := "alert" if decision in {"create_case", "create_case_and_page"}

page := true if decision == "create_case_and_page"

severity := "critical" if decision == "create_case_and_page"

attr := [
	{"key": "risk_score", "value": risk_score},
	{"key": "decision", "value": decision},
	{"key": "risk_factors", "value": concat(", ", sort([sprintf("%s +%d", [f.factor, f.score]) | some f in factors]))},
] if login
