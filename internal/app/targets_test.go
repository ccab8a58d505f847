package app

import "testing"

// A queue name is every target's; a URL is the one target's it names, or, naming no region,
// the first target's of its account.
func TestQueueFor(t *testing.T) {
	const url = "https://sqs.eu-west-1.amazonaws.com/111111111111/deskpilot-events"
	const local = "http://127.0.0.1:4566/111111111111/deskpilot-events"
	tests := []struct {
		queue, account, region string
		claimed                bool
		want                   string
	}{
		{"", "111111111111", "eu-west-1", false, ""},
		{"deskpilot-events", "222222222222", "us-east-1", false, "deskpilot-events"},
		{"deskpilot-events", "222222222222", "us-east-1", true, "deskpilot-events"},
		{url, "111111111111", "eu-west-1", false, url},
		{url, "111111111111", "eu-central-1", false, ""},
		{url, "222222222222", "eu-west-1", false, ""},
		{local, "111111111111", "eu-central-1", false, local},
		{local, "111111111111", "eu-west-1", true, ""},
	}
	for _, tt := range tests {
		if got := queueFor(tt.queue, tt.account, tt.region, tt.claimed); got != tt.want {
			t.Errorf("queueFor(%q, %s, %s, claimed %v) = %q, want %q", tt.queue, tt.account, tt.region, tt.claimed, got, tt.want)
		}
	}
}
