package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/deskpilot/deskpilot/internal/app"
	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// startupConfig is a config on the emulator at url with no aws.region.
func startupConfig(t *testing.T, url string) config.Config {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, `
aws: {endpoint: %q}
store: {path: %q}
server: {addr: ""}
rollouts: {window: "sun:02:00-sun:05:00 Europe/Berlin"}
notify:
  email: {from: deskpilot@example.com, to: [euc-admins@example.com], via: ses}
`, url, filepath.Join(t.TempDir(), "deskpilot.db")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// isolateAWSEnv points the SDK at files and variables the test controls.
func isolateAWSEnv(t *testing.T, configFile string) {
	t.Helper()
	dir := t.TempDir()
	if configFile == "" {
		configFile = filepath.Join(dir, "none")
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": configFile, "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
		"AWS_SESSION_TOKEN": "", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "",
	} {
		t.Setenv(k, v)
	}
}

func TestStartup_RegionFromTheProfile(t *testing.T) {
	s := sim.New(sim.Options{Region: "eu-west-1"})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	profile := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(profile, []byte("[profile euc]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	isolateAWSEnv(t, profile)
	t.Setenv("AWS_PROFILE", "euc")
	var logs bytes.Buffer
	m := &app.Main{Config: startupConfig(t, srv.URL), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		AWSOptions: []func(*awsconfig.LoadOptions) error{awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))}}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Region != "eu-west-1" {
		t.Errorf("region %q, want the profile's eu-west-1", m.Region)
	}
	for _, want := range []string{"region=eu-west-1", "account=" + s.AccountID(), "controllers", "next_opening", "notification channels"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("startup log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestStartup_NoRegionAnywhereIsAnError(t *testing.T) {
	isolateAWSEnv(t, "")
	m := &app.Main{Config: startupConfig(t, "http://127.0.0.1:1")}
	err := m.Open(context.Background())
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded without any region")
	}
	if !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("error %q, want it to say there is no AWS region and where to set one", err)
	}
}

func TestStartup_NoCredentialsFailsBeforeAnyLoop(t *testing.T) {
	s := sim.New(sim.Options{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	isolateAWSEnv(t, "")
	t.Setenv("AWS_REGION", "us-east-1")
	m := &app.Main{Config: startupConfig(t, srv.URL)}
	err := m.Open(context.Background())
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded without credentials")
	}
	if !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("error %q, want it to say there are no AWS credentials", err)
	}
	if n := s.Calls().Total; n != 0 {
		t.Errorf("%d AWS calls reached the emulator; without credentials none should", n)
	}
}

// TestDaemon_ServesMetricsAndDashboard checks the daemon's own server carries /metrics (with
// the counts of what it did) and the dashboard, next to the API.
func TestDaemon_ServesMetricsAndDashboard(t *testing.T) {
	h := newWaveHarness(t, sundayInWindow, "")
	h.tagImage("img-good", map[string]string{"FleetName": "web-1", "ScaleImmediately": "True"})
	h.runUntil("the rollout finished", time.Hour, func() bool { return h.latest().State == rollout.Succeeded })
	metrics := h.get("/metrics")
	for _, want := range []string{
		`deskpilot_rollouts{account="` + account + `",region="us-east-1",state="succeeded"} 1`,
		`deskpilot_rollout_steps_total{account="` + account + `",region="us-east-1",result="done"} 1`,
		`deskpilot_aws_calls_total{account="` + account + `",class="ok",operation="UpdateFleet",region="us-east-1",service="AppStream"} 1`,
		`deskpilot_fleets_drained{account="` + account + `",region="us-east-1"} 0`,
		`deskpilot_last_successful_pass_timestamp_seconds{controller="rollouts"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if page := h.get("/"); !strings.Contains(page, "web-1") || !strings.Contains(page, "<html") {
		t.Errorf("the dashboard at / does not list fleet web-1:\n%.400s", page)
	}
}
