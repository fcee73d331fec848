package intel_test

import rego.v1

import data.intel

providers := [
	{"name": "virustotal", "kinds": ["ip", "domain", "hostname", "url", "md5", "sha1", "sha256"]},
	{"name": "abuseipdb", "kinds": ["ip"]},
	{"name": "rdap", "kinds": ["ip", "domain", "asn"]},
]

alert(severity, score, indicators) := {
	"alert_id": "0190b0c4-0000-7000-8000-000000000001", "schema": "guardduty", "title": "t",
	"severity": severity, "severity_score": score, "indicators": indicators, "providers": providers,
}

public_ip := {"type": "ipv4", "value": "45.155.205.233", "path": "ip", "kind": "ip", "normalized": "45.155.205.233", "public": true}

private_ip := {"type": "ipv4", "value": "10.1.2.3", "path": "ip", "kind": "ip", "normalized": "10.1.2.3", "public": false}

hostname := {"type": "domain", "value": "www.evil-login.com", "path": "h", "kind": "hostname", "normalized": "www.evil-login.com", "public": true}

email := {"type": "email", "value": "a@b.com", "path": "e", "public": false}

test_high_alert_asks_every_provider_of_its_kind if {
	intel.lookups == {{"kind": "ip", "value": "45.155.205.233", "providers": ["virustotal", "abuseipdb", "rdap"]}} with input as alert("high", 75, [public_ip])
}

test_low_alert_spares_virustotal if {
	intel.lookups == {{"kind": "ip", "value": "45.155.205.233", "providers": ["abuseipdb", "rdap"]}} with input as alert("low", 20, [public_ip])
}

test_info_alert_asks_nothing if {
	count(intel.lookups) == 0 with input as alert("info", 0, [public_ip])
}

test_private_ip_and_email_never_asked if {
	count(intel.lookups) == 0 with input as alert("critical", 100, [private_ip, email])
}

test_hostname_not_sent_to_rdap if {
	intel.lookups == {{"kind": "hostname", "value": "www.evil-login.com", "providers": ["virustotal"]}} with input as alert("medium", 50, [hostname])
}

test_no_provider_for_the_kind_no_lookup if {
	count(intel.lookups) == 0 with input as alert("low", 20, [hostname])
}
