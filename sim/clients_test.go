package sim_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/deskpilot/deskpilot/sim"
)

// clientEnv isolates an external AWS client from the machine's own AWS settings and points it
// at url.
func clientEnv(t *testing.T, url string) []string {
	t.Helper()
	dir := t.TempDir()
	env := []string{
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + dir + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + dir + "/credentials",
		"AWS_ENDPOINT_URL=" + url, "AWS_PAGER=", "HOME=" + dir,
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

// cliSim is an emulator on the wall clock with one image, as a user would start it.
func cliSim(t *testing.T) (*sim.Sim, string) {
	t.Helper()
	s := sim.New(sim.Options{})
	if _, err := s.CreateImage(sim.ImageSpec{Name: "img-1"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func TestAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed (no `aws` on PATH); CI installs it. Skipping the independent-client check.")
	}
	s, url := cliSim(t)
	env := clientEnv(t, url)
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(awsPath, append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	mustRun := func(args ...string) map[string]any {
		t.Helper()
		out, stderr, err := run(args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		var v map[string]any
		if strings.TrimSpace(out) != "" {
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("aws %s printed %q: %v", strings.Join(args, " "), out, err)
			}
		}
		return v
	}

	mustRun("appstream", "create-fleet", "--name", "cli-fleet", "--instance-type", "stream.standard.small",
		"--image-name", "img-1", "--fleet-type", "ALWAYS_ON", "--compute-capacity", "DesiredInstances=2")
	fleets := mustRun("appstream", "describe-fleets")["Fleets"].([]any)
	if len(fleets) != 1 || fleets[0].(map[string]any)["State"] != "STOPPED" {
		t.Errorf("describe-fleets: %v", fleets)
	}
	mustRun("appstream", "tag-resource", "--resource-arn", "arn:aws:appstream:us-east-1:123456789012:image/img-1", "--tags", "FleetName=cli-fleet")
	tags := mustRun("appstream", "list-tags-for-resource", "--resource-arn", "arn:aws:appstream:us-east-1:123456789012:image/img-1")
	if tags["Tags"].(map[string]any)["FleetName"] != "cli-fleet" {
		t.Errorf("tags: %v", tags)
	}
	mustRun("application-autoscaling", "register-scalable-target", "--service-namespace", "appstream",
		"--resource-id", "fleet/cli-fleet", "--scalable-dimension", "appstream:fleet:DesiredCapacity", "--min-capacity", "1", "--max-capacity", "4")
	targets := mustRun("application-autoscaling", "describe-scalable-targets", "--service-namespace", "appstream")["ScalableTargets"].([]any)
	if len(targets) != 1 {
		t.Errorf("describe-scalable-targets: %v", targets)
	}
	if id := mustRun("sts", "get-caller-identity"); id["Account"] != "123456789012" {
		t.Errorf("get-caller-identity: %v", id)
	}
	mustRun("ses", "verify-email-identity", "--email-address", "deskpilot@example.com")
	mustRun("ses", "send-email", "--from", "deskpilot@example.com", "--to", "admin@example.com", "--subject", "from the CLI", "--text", "hello")
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].Subject != "from the CLI" {
		t.Errorf("messages: %+v", msgs)
	}

	_, stderr, err := run("appstream", "describe-fleets", "--names", "missing")
	if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("describe-fleets of a missing fleet: err %v, stderr %q", err, stderr)
	}
	_, stderr, err = run("appstream", "update-fleet", "--name", "cli-fleet", "--image-name", "img-missing")
	if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("update-fleet to a missing image: err %v, stderr %q", err, stderr)
	}
}

func TestBoto3(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed; CI installs it with boto3. Skipping the boto3 check.")
	}
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 is not installed for python3 (pip install boto3); CI installs it. Skipping the boto3 check.")
	}
	s, url := cliSim(t)
	cmd := exec.Command(python, "testdata/boto3_check.py", url)
	cmd.Env = clientEnv(t, url)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("boto3 script failed: %v\n%s", err, out)
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("boto3 sent %d messages, want 2", n)
	}
}
