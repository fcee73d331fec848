# Seed 001's chain (AlertChain's documented example): a GuardDuty Trojan alert is
# explained by the LLM at seq 0, whose answer is committed as the attribute
# "ChatGPT's comment"; the next round posts the alert, with that comment among its
# fields, to Slack. Both keys come from the environment the agent lets policies see
# (HUTCH_ACTION_ENV_ALLOW); without them nothing runs.
package action

import rego.v1

guardduty_trojan if {
	input.alert.schema == "aws_guardduty"
	startswith(input.alert.title, "Trojan:")
}

run contains {
	"id": "ask-chatgpt",
	"name": "ask the LLM about the finding",
	"uses": "chatgpt.query",
	"args": {
		"secret_api_key": input.env.CHATGPT_API_KEY,
		"prompt": "Please analyze and summarize the given JSON-formatted security alert data",
	},
	"commit": [{"key": "ChatGPT's comment", "path": "choices[0].message.content"}],
} if {
	input.seq == 0
	guardduty_trojan
	input.env.CHATGPT_API_KEY
}

run contains {
	"id": "notify-slack",
	"name": "post the alert and the LLM's comment",
	"uses": "slack.post",
	"args": {"secret_url": input.env.SLACK_INCOMING_WEBHOOK, "text": input.alert.title},
} if {
	input.called[_].id == "ask-chatgpt"
	input.env.SLACK_INCOMING_WEBHOOK
}
