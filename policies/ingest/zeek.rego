# Zeek notice.log records (JSON logs: LogAscii::use_json, or a log shipper's JSON) ->
# Hutch alerts (ingest.zeek).
#
# Input: one Notice::Info record {"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h",
# "id.resp_p", "proto", "note", "msg", "sub", "src", "dst", "p", "n", "peer_descr",
# "actions", "suppress_for", ...}; a record with "_path" "notice" (some writers add it).
# Every notice alerts, titled "<note>: <msg>" without per-event values in the note part;
# severity by notice type (table below; site-specific notes of a known framework low).
# Non-detections (ignored with a reason): notices about the sensor itself (capture loss,
# packet filter, protocol / server found, software version changes: inventory), and
# records of the other Zeek logs (conn, dns, http, ... have no "note").
# Anything else: "zeek: unrecognised event (<note>)".
package ingest.zeek

import rego.v1

import data.hutch.lib

source := "zeek"

note := lib.str(object.get(input, "note", ""))

severity_by_note := {
	"Heartbleed::SSL_Heartbeat_Attack_Success": "critical",
	"Heartbleed::SSL_Heartbeat_Attack": "high",
	"Heartbleed::SSL_Heartbeat_Odd_Length": "medium",
	"Heartbleed::SSL_Heartbeat_Many_Requests": "medium",
	"Intel::Notice": "high",
	"TeamCymruMalwareHashRegistry::Match": "high",
	"SSH::Login_By_Password_Guesser": "high",
	"SSH::Password_Guessing": "medium",
	"SSH::Watched_Country_Login": "medium",
	"SSH::Interesting_Hostname_Login": "medium",
	"FTP::Bruteforcing": "medium",
	"FTP::Site_Exec_Success": "high",
	"HTTP::SQL_Injection_Attacker": "medium",
	"HTTP::SQL_Injection_Victim": "medium",
	"Signatures::Sensitive_Signature": "medium",
	"Signatures::Multiple_Signatures": "medium",
	"Signatures::Multiple_Sig_Responders": "medium",
	"Signatures::Count_Signature": "low",
	"Signatures::Signature_Summary": "low",
	"Software::Vulnerable_Version": "medium",
	"SMTP::Blocklist_Error_Message": "medium",
	"SMTP::Blocklist_Blocked_Host": "medium",
	"SMTP::Suspicious_Origination": "medium",
	"Scan::Port_Scan": "low",
	"Scan::Address_Scan": "low",
	"DNS::External_Name": "low",
	"SSL::Certificate_Expired": "low",
	"SSL::Certificate_Not_Valid_Yet": "low",
	"SSL::Invalid_Server_Cert": "low",
	"SSL::Invalid_Ocsp_Response": "low",
	"SSL::Weak_Key": "low",
	"SSL::Old_Version": "low",
	"SSL::Weak_Cipher": "low",
	"SSL::Certificate_Expires_Soon": "low",
	"Conn::Retransmission_Inconsistency": "low",
	"Conn::Content_Gap": "low",
	"Notice::Tally": "info",
}

sensor_notes := {
	"CaptureLoss::Too_Much_Loss": "capture loss on the sensor",
	"CaptureLoss::Too_Little_Traffic": "too little traffic on the sensor",
	"PacketFilter::Compile_Failure": "packet filter compile failure",
	"PacketFilter::Install_Failure": "packet filter install failure",
	"PacketFilter::Too_Long_To_Compile_Filter": "packet filter slow to compile",
	"PacketFilter::Dropped_Packets": "packets dropped by the sensor",
	"PacketFilter::No_More_Conn_Shunts_Available": "no more connection shunts",
	"PacketFilter::Cannot_BPF_Shunt_Conn": "connection shunt failed",
	"ProtocolDetector::Protocol_Found": "protocol found on a non-standard port (inventory)",
	"ProtocolDetector::Server_Found": "server found (inventory)",
	"Software::Software_Version_Change": "software version change (inventory)",
	"Weird::Activity": "protocol weirdness summary (weird.log)",
}

is_notice if note != ""

is_notice if input._path == "notice"

other_log if {
	not is_notice
	object.get(input, "ts", null) != null
	object.get(input, "uid", object.get(input, "_path", null)) != null
}

ignore contains sprintf("Zeek sensor notice (%s): %s", [note, sensor_notes[note]]) if sensor_notes[note]

ignore contains sprintf("Zeek %s log record (not notice.log): protocol telemetry, not a detection", [lib.str(object.get(input, "_path", "conn/protocol"))]) if other_log

severity := severity_by_note[note]

unrecognised if {
	not severity_by_note[note]
	not sensor_notes[note]
	not other_log
}

ignore contains lib.unrecognised_reason(source, lib.kind(note, "note")) if {
	unrecognised
	lib.strict(source)
}

src := s if {
	s := lib.str(object.get(input, "src", object.get(input, "id.orig_h", object.get(input, ["id", "orig_h"], ""))))
	s != ""
} else := ""

dst := d if {
	d := lib.str(object.get(input, "dst", object.get(input, "id.resp_h", object.get(input, ["id", "resp_h"], ""))))
	d != ""
} else := ""

attributes := lib.attrs([
	["src_ip", src],
	["dst_ip", dst],
	["port", lib.str(object.get(input, "p", object.get(input, "id.resp_p", "")))],
	["note", note],
	["sub", lib.str(object.get(input, "sub", ""))],
	["uid", lib.str(object.get(input, "uid", ""))],
	["sensor", lib.str(object.get(input, "peer_descr", ""))],
	["file_id", lib.str(object.get(input, "fuid", ""))],
])

alerts contains {
	"title": sprintf("Zeek %s", [note]),
	"description": lib.str(object.get(input, "msg", note)),
	"attributes": attributes,
	"tags": ["zeek", "notice", severity],
	"severity": severity,
} if severity

alerts contains lib.unrecognised_alert(source, lib.kind(note, "note")) if {
	unrecognised
	not lib.strict(source)
}
