package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse_webhooks(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	const a, b = "https://hooks.example.com/a", "https://hooks.slack.com/services/T0/B0/X"
	tests := []struct {
		name, file string
		want       Webhooks
	}{
		{"none", "", nil},
		{"a URL alone is json", "notify: {webhooks: [" + a + "]}", Webhooks{{URL: a, Format: WebhookJSON}}},
		{"no format is json", "notify: {webhooks: [{url: " + a + "}]}", Webhooks{{URL: a, Format: WebhookJSON}}},
		{"null format is json", "notify: {webhooks: [{url: " + a + ", format: ~}]}", Webhooks{{URL: a, Format: WebhookJSON}}},
		{"json", "notify: {webhooks: [{url: " + a + ", format: json}]}", Webhooks{{URL: a, Format: WebhookJSON}}},
		{"slack", "notify: {webhooks: [{url: " + b + ", format: slack}]}", Webhooks{{URL: b, Format: WebhookSlack}}},
		{"teams", "notify: {webhooks: [{url: " + a + ", format: teams}]}", Webhooks{{URL: a, Format: WebhookTeams}}},
		{"both forms, in order", "notify:\n  webhooks:\n    - " + a + "\n    - url: " + b + "\n      format: slack\n",
			Webhooks{{URL: a, Format: WebhookJSON}, {URL: b, Format: WebhookSlack}}},
		{"alias and merge", "notify:\n  webhooks:\n    - &w {url: " + a + ", <<: {format: teams}}\n    - *w\n",
			Webhooks{{URL: a, Format: WebhookTeams}, {URL: a, Format: WebhookTeams}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Notify.Webhooks); diff != "" {
				t.Errorf("webhooks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParse_webhookErrors(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	tests := []struct{ file, want string }{
		{"notify: {webhooks: [{url: 'https://h.example/x', format: discord}]}",
			`notify.webhooks[0].format: "discord" is not "json", "slack" or "teams"`},
		{"notify: {webhooks: [{url: 'https://h.example/x', format: Teams}]}",
			`notify.webhooks[0].format: "Teams" is not "json", "slack" or "teams"`},
		{"notify: {webhooks: [https://h.example/x, {url: 'https://h.example/y', fromat: slack}]}",
			"notify.webhooks[1].fromat: unknown key"},
		{"notify: {webhooks: [{format: slack}]}", "notify.webhooks[0].url: required"},
		{"notify: {webhooks: [{url: 'hooks.slack.com/x', format: slack}]}", "notify.webhooks[0]: not an absolute http or https URL"},
		{"notify: {webhooks: https://h.example/x}", `notify.webhooks: want a list, got a string "https://h.example/x"`},
		{"notify:\n  webhooks:\n    - url: https://h.example/x\n      format: {a: 1}\n", "notify.webhooks[0].format: want a string, got a mapping"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.file))
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.file, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.file, err, tt.want)
		}
	}
}

// A Webhook built in Go without a format is a json one, as the file's default is.
func TestConfig_Validate_webhookZeroFormat(t *testing.T) {
	c := Default()
	c.AWS.Region = "eu-west-1"
	c.Notify.Webhooks = Webhooks{{URL: "https://h.example/x"}}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}
