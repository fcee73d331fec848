package ingest.k8s_audit_test

import rego.v1

import data.ingest["k8s-audit"] as k8s

ev(verb, ref, o) := object.union({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "a-1",
	"stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/prod/pods/api-0/exec?command=sh", "verb": verb,
	"user": {"username": "dev@corp.example", "groups": ["system:authenticated"]}, "sourceIPs": ["198.51.100.70"], "userAgent": "kubectl/v1.30.0",
	"objectRef": ref, "responseStatus": {"metadata": {}, "code": 101}}, o)

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_exec_into_pod if {
	i := ev("create", {"resource": "pods", "namespace": "prod", "name": "api-0", "apiVersion": "v1", "subresource": "exec"}, {})
	some a in k8s.alerts with input as i
	a.title == "Kubernetes exec into pod prod/api-0"
	a.severity == "high"
	attr(a, "user") == {"dev@corp.example"}
	attr(a, "src_ip") == {"198.51.100.70"}
	attr(a, "target") == {"prod/api-0"}
}

test_privileged_pod if {
	i := ev("create", {"resource": "pods", "namespace": "prod", "apiVersion": "v1"}, {"responseStatus": {"code": 201},
		"requestObject": {"metadata": {"name": "debug"}, "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": true}}]}}})
	some a in k8s.alerts with input as i
	a.title == "Kubernetes privileged pod created: prod/debug"
	a.severity == "high"
	h := json.patch(i, [{"op": "replace", "path": "/requestObject/spec", "value": {"hostPID": true, "containers": [{"name": "c"}]}}])
	some b in k8s.alerts with input as h
	b.severity == "medium"
}

test_rbac_changes if {
	ref := {"resource": "clusterrolebindings", "name": "ops-admin", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"}
	i := ev("create", ref, {"responseStatus": {"code": 201}, "requestObject": {"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}})
	some a in k8s.alerts with input as i
	a.title == "Kubernetes clusterrolebindings bound to cluster-admin: ops-admin"
	a.severity == "high"
	some b in k8s.alerts with input as ev("delete", object.union(ref, {"resource": "roles", "namespace": "dev", "name": "reader"}), {"responseStatus": {"code": 200}})
	b.title == "Kubernetes RBAC change: delete roles dev/reader"
	b.severity == "medium"
}

test_anonymous_and_denied if {
	some a in k8s.alerts with input as ev("list", {"resource": "secrets"}, {"user": {"username": "system:anonymous"}, "responseStatus": {"code": 200}, "requestURI": "/api/v1/secrets"})
	a.severity == "high"
	some b in k8s.alerts with input as ev("get", {"resource": "secrets", "namespace": "prod", "name": "db"}, {"responseStatus": {"code": 403}})
	b.title == "Kubernetes request denied (403): get secrets"
	b.severity == "low"
}

test_routine_and_stages_ignored if {
	r := ev("list", {"resource": "pods", "namespace": "prod"}, {"responseStatus": {"code": 200}})
	count(k8s.alerts) == 0 with input as r
	k8s.ignore == {"informational audit event: list pods by dev@corp.example"} with input as r
	s := ev("create", {"resource": "pods", "namespace": "prod", "name": "api-0", "subresource": "exec"}, {"stage": "RequestReceived"})
	count(k8s.alerts) == 0 with input as s
	k8s.ignore == {"audit stage RequestReceived (the request's ResponseComplete record is decided)"} with input as s
}

test_event_list if {
	i := {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [
		ev("create", {"resource": "pods", "namespace": "prod", "name": "api-0", "subresource": "exec"}, {}),
		ev("get", {"resource": "configmaps", "namespace": "prod", "name": "cfg"}, {"responseStatus": {"code": 200}}),
	]}
	count(k8s.alerts) == 1 with input as i
	count(k8s.ignore) == 1 with input as i
}

test_unrecognised if {
	some a in k8s.alerts with input as {"kind": "Pod", "apiVersion": "v1"}
	a.title == "k8s-audit: unrecognised event (Pod)"
	a.severity == "low"
	count(k8s.alerts) == 0 with input as {"kind": "Pod"} with data.hutch.config.strict_sources as ["k8s-audit"]
	k8s.ignore == {"unrecognised k8s-audit event (Pod): strict mode (data.hutch.config.strict_sources)"} with input as {"kind": "Pod"} with data.hutch.config.strict_sources as ["k8s-audit"]
}
