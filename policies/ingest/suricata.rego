# Suricata EVE JSON records (eve.json lines) -> Hutch alerts (ingest.suricata).
#
# Input: one EVE record {"timestamp", "flow_id", "event_type", "src_ip", "src_port",
# "dest_ip", "dest_port", "proto", "app_proto", "in_iface", "<event_type>": {...}}.
#   - event_type "alert": one alert per record, titled by alert.signature; severity from
#     the rule's metadata.signature_severity when the rule set gives one (ET: Critical,
#     Major, Minor, Informational), else alert.severity (1 high, 2 medium, 3 low, 4+ info);
#     alert.action "blocked" is kept as an attribute (IPS mode dropped the traffic).
#   - event_type "anomaly": protocol / decoder anomalies, low severity alerts.
# Non-detections (ignored with a reason): flow / netflow / protocol transaction records
# (dns, http, tls, fileinfo, ssh, smtp, ...), "stats" (engine statistics: a heartbeat),
# "drop" (the packet record that accompanies an alert in IPS mode).
# Anything else: "suricata: unrecognised event (<event_type>)".
package ingest.suricata

import rego.v1

import data.hutch.lib

source := "suricata"

event_type := lib.str(object.get(input, "event_type", ""))

protocol_records := {"flow", "netflow", "dns", "http", "http2", "tls", "fileinfo", "ssh", "smtp", "dhcp",
	"krb5", "smb", "nfs", "ftp", "ftp_data", "rdp", "sip", "mqtt", "snmp", "tftp", "ike", "quic", "rfb",
	"dnp3", "modbus", "dcerpc", "pgsql", "bittorrent-dht", "websocket", "ldap", "arp", "frame", "pop3",
	"enip", "template", "rpc"}

alert := object.get(input, "alert", {})

signature_severity := lower(lib.str(object.get(alert, ["metadata", "signature_severity", 0], "")))

# ET Open / Pro rule metadata first, then the classification priority
severity := s if {
	s := {"critical": "critical", "major": "high", "minor": "low", "informational": "info"}[signature_severity]
} else := "high" if {
	to_number(object.get(alert, "severity", 3)) <= 1
} else := "medium" if {
	to_number(object.get(alert, "severity", 3)) == 2
} else := "low" if {
	to_number(object.get(alert, "severity", 3)) == 3
} else := "info"

endpoint(ip, port) := sprintf("%s:%v", [ip, port]) if port != null

else := ip

attributes := lib.attrs([
	["src_ip", lib.str(object.get(input, "src_ip", ""))],
	["dest_ip", lib.str(object.get(input, "dest_ip", ""))],
	["dest", endpoint(lib.str(object.get(input, "dest_ip", "")), object.get(input, "dest_port", null))],
	["proto", lib.str(object.get(input, "proto", ""))],
	["app_proto", lib.str(object.get(input, "app_proto", ""))],
	["signature_id", lib.str(object.get(alert, "signature_id", ""))],
	["category", lib.str(object.get(alert, "category", ""))],
	["action", lib.str(object.get(alert, "action", ""))],
	["sensor", lib.str(object.get(input, "host", object.get(input, "in_iface", "")))],
	["flow_id", lib.str(object.get(input, "flow_id", ""))],
	["hostname", lib.str(object.get(input, ["http", "hostname"], object.get(input, ["tls", "sni"], "")))],
])

ignore contains sprintf("%s record: protocol / flow telemetry, not a detection", [event_type]) if {
	event_type in protocol_records
}

ignore contains "stats record: engine statistics (a heartbeat)" if event_type == "stats"

ignore contains "drop record: the packet dropped in IPS mode (its alert is a record of its own)" if event_type == "drop"

known := (protocol_records | {"stats", "drop", "anomaly"}) | {"alert"}

unrecognised if not event_type in known

unrecognised if {
	event_type == "alert"
	not is_string(object.get(alert, "signature", null))
}

ignore contains lib.unrecognised_reason(source, lib.kind(event_type, "event_type")) if {
	unrecognised
	lib.strict(source)
}

alerts contains {
	"title": alert.signature,
	"description": sprintf("Suricata alert %v (%s): %s -> %s", [object.get(alert, "signature_id", "?"), object.get(alert, "category", ""), object.get(input, "src_ip", "?"), endpoint(lib.str(object.get(input, "dest_ip", "?")), object.get(input, "dest_port", null))]),
	"attributes": attributes,
	"tags": ["suricata", severity],
	"severity": severity,
} if {
	event_type == "alert"
	is_string(alert.signature)
}

alerts contains {
	"title": sprintf("Suricata %s anomaly: %s", [lib.str(object.get(input, ["anomaly", "type"], "")), lib.str(object.get(input, ["anomaly", "event"], "unknown"))]),
	"description": sprintf("Suricata %s anomaly %s between %s and %s", [lib.str(object.get(input, ["anomaly", "layer"], "")), lib.str(object.get(input, ["anomaly", "event"], "")), object.get(input, "src_ip", "?"), object.get(input, "dest_ip", "?")]),
	"attributes": attributes,
	"tags": ["suricata", "anomaly", "low"],
	"severity": "low",
} if event_type == "anomaly"

alerts contains lib.unrecognised_alert(source, lib.kind(event_type, "event_type")) if {
	unrecognised
	not lib.strict(source)
}
