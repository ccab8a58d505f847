package app

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/sim"
)

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

// A queue URL of an account or region the daemon does not serve is a configuration error that
// stops the start, rather than tag events silently left off.
func TestMain_openRefusesAQueueURLOfNoTarget(t *testing.T) {
	awsSrv := httptest.NewServer(sim.New(sim.Options{Clock: sim.NewManualClock(t0)}))
	t.Cleanup(awsSrv.Close)
	cfg, err := config.Parse(fmt.Appendf(nil, `
aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
rollouts:
  window: "sun:04:00-sun:07:00 Europe/Berlin"
  events: {queue: "https://sqs.eu-west-1.amazonaws.com/222222222222/deskpilot-events"}
targets:
  - {account: "111111111111", role_arn: "arn:aws:iam::111111111111:role/deskpilot", regions: [eu-west-1]}
`, awsSrv.URL, filepath.Join(t.TempDir(), "deskpilot.db")))
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Now: sim.NewManualClock(t0).Now,
		AWSOptions: []func(*awsconfig.LoadOptions) error{awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))}}
	err = m.Open(t.Context())
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded with a queue of account 222222222222, which no target is")
	}
	for _, want := range []string{"rollouts.events.queue", "account 222222222222 in eu-west-1", "deskpilot serves 111111111111/eu-west-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
