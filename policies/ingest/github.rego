# GitHub audit log events (organization / enterprise audit log: REST API, streaming,
# webhook export) -> Hutch alerts (ingest.github).
#
# Input: one audit event {"action": "<category>.<operation>", "actor", "actor_ip",
# "actor_location": {"country_code"}, "org", "business", "repo", "user", "created_at",
# "@timestamp", "operation_type", ...}; a JSON array of events gives one alert each.
#
# Detections (security-relevant actions): security features disabled (secret scanning,
# push protection, advanced security, dependabot, 2FA requirement), branch protection
# overridden or removed, repositories made public / transferred / deleted, admins and
# owners added, SSH / deploy keys and personal access tokens granted, webhooks and app
# installations, audit log streams changed, IP allow lists disabled.
# Non-detections (ignored with a reason): routine activity (git operations, pull requests,
# issues, workflows, packages, team and project housekeeping): informational audit events.
# Anything else: "github: unrecognised event (<action>)".
package ingest.github

import rego.v1

import data.hutch.lib

source := "github"

events contains e if {
	is_array(input)
	some e in input
	is_object(e)
}

events contains input if is_object(input)

action(e) := lib.str(object.get(e, "action", ""))

# [action prefix or exact action, title, severity]; exact actions first
security_actions := {
	"business_advanced_security.disabled": ["Advanced Security disabled for the enterprise", "high"],
	"business_secret_scanning.disabled": ["Secret scanning disabled for the enterprise", "high"],
	"business_secret_scanning_push_protection.disable": ["Secret scanning push protection disabled for the enterprise", "high"],
	"org.advanced_security_disabled_on_all_repos": ["Advanced Security disabled on all repositories", "high"],
	"org.secret_scanning_push_protection_disable": ["Secret scanning push protection disabled for the organization", "high"],
	"secret_scanning.disable": ["Secret scanning disabled", "high"],
	"secret_scanning_push_protection.disable": ["Secret scanning push protection disabled", "high"],
	"repository_secret_scanning.disable": ["Secret scanning disabled for a repository", "medium"],
	"repository_secret_scanning_push_protection.disable": ["Push protection disabled for a repository", "medium"],
	"secret_scanning_push_protection.bypass": ["Secret scanning push protection bypassed", "medium"],
	"repository_vulnerability_alerts.disable": ["Dependabot alerts disabled for a repository", "medium"],
	"dependabot_alerts.disable": ["Dependabot alerts disabled", "medium"],
	"org.disable_two_factor_requirement": ["Two-factor requirement disabled for the organization", "high"],
	"business.disable_two_factor_requirement": ["Two-factor requirement disabled for the enterprise", "high"],
	"two_factor_authentication.disabled": ["Two-factor authentication disabled for a user", "medium"],
	"protected_branch.policy_override": ["Branch protection overridden", "medium"],
	"protected_branch.destroy": ["Branch protection removed", "high"],
	"protected_branch.update_admin_enforced": ["Branch protection admin enforcement changed", "medium"],
	"repository_ruleset.destroy": ["Repository ruleset removed", "medium"],
	"repo.access": ["Repository visibility changed", "high"],
	"repo.transfer": ["Repository transferred", "medium"],
	"repo.destroy": ["Repository deleted", "medium"],
	"org.add_member": ["Member added to the organization", "low"],
	"org.update_member": ["Organization member role changed", "medium"],
	"business.add_admin": ["Enterprise owner added", "high"],
	"org.add_billing_manager": ["Billing manager added", "low"],
	"public_key.create": ["SSH key added", "low"],
	"deploy_key.create": ["Deploy key added", "medium"],
	"personal_access_token.access_granted": ["Personal access token granted organization access", "medium"],
	"oauth_application.create": ["OAuth application created", "low"],
	"integration_installation.create": ["GitHub App installed", "medium"],
	"hook.create": ["Webhook created", "medium"],
	"hook.config_changed": ["Webhook configuration changed", "medium"],
	"audit_log_streaming.destroy": ["Audit log stream deleted", "high"],
	"audit_log_streaming.update": ["Audit log stream changed", "medium"],
	"ip_allow_list.disable": ["IP allow list disabled", "high"],
	"org.disable_saml": ["SAML single sign-on disabled", "high"],
	"business.disable_saml": ["Enterprise SAML single sign-on disabled", "high"],
	"org.oauth_app_access_approved": ["OAuth application approved for the organization", "low"],
	"org.recovery_codes_downloaded": ["Organization SSO recovery codes downloaded", "medium"],
}

routine_prefixes := ["git.", "pull_request", "issue", "workflows.", "packages.", "discussion", "project",
	"team.", "repo.create", "repo.rename", "repo.archived", "repo.add_topic", "repo.remove_topic",
	"repo.update_default_branch", "repo.download_zip", "repo.change_merge_setting", "repo.staff_unlock",
	"codespaces.", "environment.", "merge_queue.", "repository_branch_protection_evaluation.",
	"protected_branch.create", "protected_branch.update", "org.invite_member", "org_credential_authorization.grant",
	"copilot.", "marketplace_", "profile_picture.", "user.login", "user.logout", "repository_invitation.",
	"dependabot_alerts.reintroduce", "dependabot_alerts.fix", "secret_scanning_alert.resolve",
	"repository_vulnerability_alert.resolve", "payment_method.", "billing.", "sponsors."]

detection(e) := security_actions[action(e)] if security_actions[action(e)]

routine(e) if {
	not detection(e)
	some p in routine_prefixes
	startswith(action(e), p)
}

unrecognised(e) if {
	not detection(e)
	not routine(e)
}

# repo.access to private / internal is a tightening, not a detection
private_access(e) if {
	action(e) == "repo.access"
	object.get(e, "visibility", object.get(e, "access", "public")) in {"private", "internal"}
}

ignore contains sprintf("informational audit event: %s", [action(e)]) if {
	some e in events
	routine(e)
}

ignore contains sprintf("repository made %s (not public): %s", [object.get(e, "visibility", object.get(e, "access", "")), object.get(e, "repo", "")]) if {
	some e in events
	private_access(e)
}

ignore contains lib.unrecognised_reason(source, lib.kind(action(e), "action")) if {
	lib.strict(source)
	some e in events
	unrecognised(e)
}

scope_link(e) := sprintf("https://github.com/organizations/%s/settings/audit-log?q=%s", [e.org, urlquery.encode(sprintf("action:%s", [action(e)]))]) if {
	is_string(e.org)
} else := sprintf("https://github.com/enterprises/%s/settings/audit-log?q=%s", [e.business, urlquery.encode(sprintf("action:%s", [action(e)]))]) if {
	is_string(e.business)
} else := ""

target(e) := t if {
	t := lib.str(object.get(e, "repo", ""))
	t != ""
} else := t if {
	t := lib.str(object.get(e, "user", ""))
	t != ""
	t != object.get(e, "actor", "")
} else := lib.str(object.get(e, "org", object.get(e, "business", object.get(e, "user", ""))))

attributes(e) := lib.attrs([
	["actor", lib.str(object.get(e, "actor", ""))],
	["actor_ip", lib.str(object.get(e, "actor_ip", ""))],
	["actor_country", lib.str(object.get(e, ["actor_location", "country_code"], ""))],
	["target", target(e)],
	["org", lib.str(object.get(e, "org", ""))],
	["business", lib.str(object.get(e, "business", ""))],
	["branch", lib.str(object.get(e, "branch", ""))],
	["action", action(e), scope_link(e)],
])

alerts contains {
	"title": sprintf("GitHub: %s (%s)", [d[0], target(e)]),
	"description": sprintf("GitHub audit log: %s by %s on %s", [action(e), lib.str(object.get(e, "actor", "unknown")), target(e)]),
	"attributes": attributes(e),
	"tags": ["github", "audit", d[1]],
	"severity": d[1],
} if {
	some e in events
	d := detection(e)
	not private_access(e)
}

alerts contains lib.unrecognised_alert(source, lib.kind(action(e), "action")) if {
	not lib.strict(source)
	some e in events
	unrecognised(e)
}
