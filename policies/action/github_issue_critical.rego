# A GitHub issue per critical ticket: the alert that opened a critical ticket
# (new_ticket, set by hutch-cluster; absent outside the pipeline, e.g. in a play)
# files one issue through the GitHub App, and its URL is committed as "github_issue".
package action

import rego.v1

opens_ticket if object.get(input.alert, "new_ticket", true)

run contains {
	"id": "github-issue",
	"name": "file a GitHub issue for the critical ticket",
	"uses": "github.create_issue",
	"args": {
		"app_id": to_number(input.env.GITHUB_APP_ID),
		"install_id": to_number(input.env.GITHUB_INSTALL_ID),
		"owner": input.env.GITHUB_OWNER,
		"repo": input.env.GITHUB_REPO,
		"secret_private_key": input.env.GITHUB_APP_PRIVATE_KEY,
		"labels": ["hutch", "critical"],
	},
	"commit": [{"key": "github_issue", "path": "html_url"}],
} if {
	input.alert.severity == "critical"
	opens_ticket
	input.env.GITHUB_APP_ID
}
