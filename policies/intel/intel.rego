# The threat-intel lookups of an alert (hutch-enrich, services/enrich/intel_policy.h).
#
# Input: the alert (alert_id, schema, title, severity, severity_score, attributes,
# tags ...) with its indicators, each {type, value, path, kind, normalized, public},
# and the enabled providers, each {name, kinds}. Output: the set `lookups`, each
# {kind, value, providers}. Whatever this says, enrich never asks about a value that
# is not public and never asks a provider that is off or does not take the kind.
#
# The shipped choice: every public indicator of an alert to every enabled provider
# that answers about its kind, but
#   - nothing for `info` alerts (no one acts on them: not worth a quota);
#   - VirusTotal (free tier 4/min, 500/day) only for alerts of severity medium or
#     above, so a storm of low alerts does not spend the day's quota;
#   - RDAP only for IPs and registrable domains (a hostname's or URL's owner is its
#     domain's, which is asked already when the alert names it).
package intel

import rego.v1

quota_savers := {"virustotal"}

worth_a_quota if input.severity_score >= 40

asked_kinds := {"ip", "domain", "hostname", "url", "md5", "sha1", "sha256", "ip_port"}

lookups contains {"kind": i.kind, "value": i.normalized, "providers": ps} if {
	input.severity != "info"
	some i in input.indicators
	i.public
	i.kind in asked_kinds
	ps := [p.name |
		some p in input.providers
		i.kind in p.kinds
		provider_takes(p.name, i.kind)
	]
	count(ps) > 0
}

provider_takes(name, _) if {
	not name in quota_savers
	name != "rdap"
}

provider_takes(name, _) if {
	name in quota_savers
	worth_a_quota
}

provider_takes("rdap", kind) if kind in {"ip", "domain"}
