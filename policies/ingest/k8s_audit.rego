# Kubernetes API server audit events (audit.k8s.io/v1 Event, from the log backend or
# the webhook backend) -> Hutch alerts (ingest["k8s-audit"]).
#
# Accepted shapes: one Event {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level",
# "auditID", "stage", "requestURI", "verb", "user": {username, groups}, "impersonatedUser",
# "sourceIPs", "userAgent", "objectRef": {resource, namespace, name, apiGroup,
# subresource}, "responseStatus": {code}, "requestObject", "annotations"}, and the
# webhook backend's EventList {"kind": "EventList", "items": [...]}, one decision each.
# Only stage ResponseComplete (and Panic) is decided; RequestReceived and ResponseStarted
# are ignored (the same request's ResponseComplete record follows).
# Detections: exec / attach into a pod (high), port-forward (medium), privileged or
# host-namespace pods created (high / medium; needs level Request or RequestResponse),
# RBAC changes (roles, bindings: medium; bindings to cluster-admin: high), requests by
# system:anonymous that succeeded (high), requests denied with 401/403 (low).
# Non-detections (ignored with a reason): every other request: informational audit
# events. Another kind / apiVersion: "k8s-audit: unrecognised event (<kind>)".
package ingest["k8s-audit"]

import rego.v1

import data.hutch.lib

source := "k8s-audit"

audit_event(e) if {
	e.kind == "Event"
	startswith(lib.str(object.get(e, "apiVersion", "")), "audit.k8s.io/")
}

events contains input if audit_event(input)

events contains e if {
	input.kind == "EventList"
	some e in input.items
	audit_event(e)
}

final(e) if object.get(e, "stage", "ResponseComplete") in {"ResponseComplete", "Panic"}

ref(e) := object.get(e, "objectRef", {})

resource(e) := lib.str(object.get(ref(e), "resource", ""))

subresource(e) := lib.str(object.get(ref(e), "subresource", ""))

verb(e) := lib.str(object.get(e, "verb", ""))

username(e) := lib.str(object.get(e, ["user", "username"], ""))

code(e) := to_number(object.get(e, ["responseStatus", "code"], 200))

succeeded(e) if code(e) < 400

object_name(e) := sprintf("%s/%s", [ns, n]) if {
	ns := lib.str(object.get(ref(e), "namespace", ""))
	ns != ""
	n := lib.str(object.get(ref(e), "name", object.get(e, ["requestObject", "metadata", "name"], "")))
} else := lib.str(object.get(ref(e), "name", object.get(e, ["requestObject", "metadata", "name"], "")))

pod_spec(e) := object.get(e, ["requestObject", "spec"], {})

privileged(e) if {
	some c in array.concat(object.get(pod_spec(e), "containers", []), object.get(pod_spec(e), "initContainers", []))
	c.securityContext.privileged == true
}

host_namespaces(e) if {
	some k in ["hostPID", "hostNetwork", "hostIPC"]
	pod_spec(e)[k] == true
}

rbac_resources := {"clusterrolebindings", "rolebindings", "clusterroles", "roles"}

detection(e) := {"title": sprintf("Kubernetes %s into pod %s", [subresource(e), object_name(e)]), "severity": "high"} if {
	resource(e) == "pods"
	subresource(e) in {"exec", "attach"}
	succeeded(e)
} else := {"title": sprintf("Kubernetes port-forward to pod %s", [object_name(e)]), "severity": "medium"} if {
	resource(e) == "pods"
	subresource(e) == "portforward"
	succeeded(e)
} else := {"title": sprintf("Kubernetes privileged pod created: %s", [object_name(e)]), "severity": "high"} if {
	resource(e) == "pods"
	verb(e) == "create"
	privileged(e)
	succeeded(e)
} else := {"title": sprintf("Kubernetes pod sharing host namespaces created: %s", [object_name(e)]), "severity": "medium"} if {
	resource(e) == "pods"
	verb(e) == "create"
	host_namespaces(e)
	succeeded(e)
} else := {"title": sprintf("Kubernetes %s bound to cluster-admin: %s", [resource(e), object_name(e)]), "severity": "high"} if {
	resource(e) in {"clusterrolebindings", "rolebindings"}
	verb(e) in {"create", "update", "patch"}
	object.get(e, ["requestObject", "roleRef", "name"], "") == "cluster-admin"
	succeeded(e)
} else := {"title": sprintf("Kubernetes RBAC change: %s %s %s", [verb(e), resource(e), object_name(e)]), "severity": "medium"} if {
	resource(e) in rbac_resources
	verb(e) in {"create", "update", "patch", "delete", "deletecollection"}
	succeeded(e)
} else := {"title": sprintf("Kubernetes anonymous request allowed: %s %s", [verb(e), lib.str(object.get(e, "requestURI", ""))]), "severity": "high"} if {
	username(e) == "system:anonymous"
	succeeded(e)
} else := {"title": sprintf("Kubernetes request denied (%v): %s %s", [code(e), verb(e), resource(e)]), "severity": "low"} if {
	code(e) in {401, 403}
}

ignore contains sprintf("audit stage %s (the request's ResponseComplete record is decided)", [e.stage]) if {
	some e in events
	not final(e)
}

ignore contains sprintf("informational audit event: %s %s by %s", [verb(e), res_text(e), username(e)]) if {
	some e in events
	final(e)
	not detection(e)
}

ignore contains "Kubernetes audit EventList with no items" if {
	input.kind == "EventList"
	count(object.get(input, "items", [])) == 0
}

res_text(e) := sprintf("%s/%s", [resource(e), subresource(e)]) if subresource(e) != ""

else := r if {
	r := resource(e)
	r != ""
} else := lib.str(object.get(e, "requestURI", ""))

unrecognised if {
	count(events) == 0
	not input.kind == "EventList"
}

unrecognised if {
	input.kind == "EventList"
	some e in input.items
	not audit_event(e)
}

kind := lib.kind(object.get(input, "kind", ""), "kind")

ignore contains lib.unrecognised_reason(source, kind) if {
	unrecognised
	lib.strict(source)
}

attributes(e) := array.concat(
	lib.attrs([
		["user", username(e)],
		["impersonated_user", lib.str(object.get(e, ["impersonatedUser", "username"], ""))],
		["verb", verb(e)],
		["resource", res_text(e)],
		["target", object_name(e)],
		["namespace", lib.str(object.get(ref(e), "namespace", ""))],
		["user_agent", lib.str(object.get(e, "userAgent", ""))],
		["response_code", lib.str(code(e))],
		["audit_id", lib.str(object.get(e, "auditID", ""))],
	]),
	[{"key": "src_ip", "value": ip} | some ip in object.get(e, "sourceIPs", []); is_string(ip)],
)

alerts contains {
	"title": d.title,
	"description": sprintf("%s %s by %s (response %v)", [verb(e), lib.str(object.get(e, "requestURI", "")), username(e), code(e)]),
	"attributes": attributes(e),
	"tags": ["kubernetes", "audit", d.severity],
	"severity": d.severity,
} if {
	some e in events
	final(e)
	d := detection(e)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	unrecognised
	not lib.strict(source)
}
