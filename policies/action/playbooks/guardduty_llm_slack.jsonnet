// Seed 001's chain as a jsonnet playbook (AlertChain writes its playbooks in jsonnet):
// the same Trojan finding with two LLM answers; each must reach Slack as the
// committed comment.
local event = import 'guardduty_trojan.json';
local env = { CHATGPT_API_KEY: 'sk-test', SLACK_INCOMING_WEBHOOK: 'https://hooks.slack.com/services/T0/B0/XXXX' };
local answer(text) = { choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: text } }] };

local scenario(name, text) = {
  name: name,
  schema: 'aws_guardduty',
  event: event,
  env: env,
  mocks: { 'chatgpt.query': answer(text) },
  expect: {
    actions: [
      { seq: 0, id: 'ask-chatgpt', uses: 'chatgpt.query' },
      { seq: 1, id: 'notify-slack', uses: 'slack.post', args: { secret_url: '[REDACTED]' } },
    ],
    stopped: 'no_new_action',
    attrs: [{ key: "ChatGPT's comment", value: text }],
  },
};

{
  scenarios: [
    scenario('isolate', 'Isolate the instance.'),
    scenario('false positive', 'A known test domain: no action needed.'),
  ],
}
