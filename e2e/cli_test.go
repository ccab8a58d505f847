package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/sim"
)

// TestCLI_RealProcess runs the built deskpilot binary's operator commands against a real
// `deskpilot serve` process on the emulator: a rollout runs to its end, and the commands read
// it, refuse what does not apply with the documented exit codes, and change nothing then.
func TestCLI_RealProcess(t *testing.T) {
	bin := deskpilotBinary(t)
	const token = "cli-t0ken"
	s := sim.New(sim.Options{Speed: 600, RandSeed: 1})
	seed := estate
	seed.Images = []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2", Tags: map[string]string{"FleetName": "fleet-b"}}, {Name: "img-3"}}
	if err := s.ApplySeed(seed); err != nil {
		t.Fatal(err)
	}
	awsSrv := httptest.NewServer(s)
	t.Cleanup(awsSrv.Close)
	addr := freeAddr(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "deskpilot.yaml")
	cfg := fmt.Sprintf(`aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
server: {addr: %q, token: %q}
rollouts: {window: %q, scan_interval: 1s, poll_interval: 200ms, drain_poll_interval: 100ms, start_margin: 1m}
`, awsSrv.URL, filepath.Join(dir, "deskpilot.db"), addr, token, openNow())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, cfgPath)
	t.Cleanup(d.stop)

	server := "http://" + addr
	cli := func(env map[string]string, args ...string) cliResult {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"DESKPILOT_SERVER=" + server, "HOME=" + dir, "USER=e2e"}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("deskpilot %v: %v", args, err)
		}
		return cliResult{args: args, code: code, stdout: out.String(), stderr: errb.String()}
	}
	withToken := map[string]string{"DESKPILOT_TOKEN": token}

	// Wait until the daemon is ready: `deskpilot status` exits 0.
	pollCLI(t, d, 30*time.Second, "the daemon to be ready", func() bool { return cli(nil, "status").code == 0 })
	var st struct {
		Readiness      api.Readiness `json:"readiness"`
		ActiveRollouts struct{ Pending, Running int }
	}
	cli(nil, "status", "-o", "json").decode(t, &st)
	if !st.Readiness.Ready || len(st.Readiness.Checks) < 3 {
		t.Errorf("status: %+v", st)
	}

	var fleets api.FleetList
	cli(nil, "fleets", "-o", "json").want(t, 0).decode(t, &fleets)
	if len(fleets.Fleets) != 3 || fleets.Fleets[0].Name != "fleet-a" || fleets.Fleets[0].ScalableTarget == nil || fleets.Fleets[2].ScalableTarget != nil {
		t.Errorf("fleets: %+v", fleets)
	}

	// A plan for an unknown fleet is refused (exit 1) with the reason, and changes nothing.
	var plan api.PlanResult
	cli(nil, "rollout", "plan", "--image", "img-3", "--fleets", "fleet-a/nope", "-o", "json").
		want(t, 1, "would be refused", `fleet "nope" does not exist`).decode(t, &plan)
	if !plan.Refused || len(plan.Reasons) != 1 || !strings.Contains(plan.Reasons[0], `"nope"`) {
		t.Errorf("plan: %+v", plan)
	}
	cli(nil, "rollout", "plan", "--image", "img-3", "--fleets", "fleet-a").want(t, 0)

	// The tagged image's rollout runs to its end.
	var ended api.Rollout
	pollCLI(t, d, 60*time.Second, "the rollout of img-2 to end", func() bool {
		var list api.RolloutList
		cli(nil, "rollout", "list", "--image", "img-2", "-o", "json").want(t, 0).decode(t, &list)
		if len(list.Rollouts) == 1 && !list.Rollouts[0].Active {
			ended = list.Rollouts[0]
			return true
		}
		return false
	})
	if ended.State != "succeeded" {
		t.Fatalf("rollout ended %s: %s", ended.State, ended.Reason)
	}
	id := fmt.Sprint(ended.ID)
	var detail api.RolloutDetail
	before := cli(nil, "rollout", "show", id, "-o", "json").want(t, 0)
	before.decode(t, &detail)
	if detail.Rollout.Steps[0].Fleet != "fleet-b" || detail.Rollout.Steps[0].State != "done" || len(detail.Events) == 0 {
		t.Errorf("show: %+v", detail)
	}
	if plans := func() int {
		var all api.RolloutList
		cli(nil, "rollout", "list", "-o", "json").decode(t, &all)
		return len(all.Rollouts)
	}(); plans != 1 {
		t.Errorf("%d rollouts, want only img-2's: the plans must not have made any", plans)
	}

	// Requests that do not apply, or lack the token, fail with their codes and change nothing.
	cli(nil, "rollout", "cancel", id).want(t, 6, "missing bearer token", "DESKPILOT_TOKEN")
	cli(map[string]string{"DESKPILOT_TOKEN": "wrong"}, "rollout", "cancel", id).want(t, 6, "wrong bearer token", "DESKPILOT_TOKEN")
	cli(withToken, "rollout", "cancel", id).want(t, 5, "rollout "+id+" has ended (succeeded)")
	cli(withToken, "rollout", "approve", id).want(t, 5, "has ended")
	cli(withToken, "rollout", "cancel", "999").want(t, 4, "rollout 999 does not exist")
	cli(nil, "rollout", "show", "999").want(t, 4, "rollout 999 does not exist")
	if after := cli(nil, "rollout", "show", id, "-o", "json"); after.stdout != before.stdout {
		t.Errorf("refused requests changed the rollout:\n%s\n%s", before.stdout, after.stdout)
	}
	if got := s.CountCalls(sim.ServiceAppStream, "UpdateFleet"); got != 1 {
		t.Errorf("%d UpdateFleet calls, want 1 (the rollout's)", got)
	}

	var resets api.ResetList
	if r := cli(nil, "resets", "list", "--since", "1h", "-o", "json").want(t, 0); !strings.Contains(r.stdout, `"resets": []`) {
		t.Errorf("resets list: %s", r.stdout)
	} else {
		r.decode(t, &resets)
	}
	cli(nil, "resets", "pending", "-o", "json").want(t, 0)
	cli(map[string]string{"DESKPILOT_SERVER": "http://" + freeAddr(t)}, "rollout", "list").want(t, 3, "cannot reach deskpilot at")
	cli(nil, "rollout", "show", "x").want(t, 2)
	if v := cli(nil, "version").want(t, 0); !strings.HasPrefix(v.stdout, "deskpilot ") {
		t.Errorf("version: %q", v.stdout)
	}
}

// cliResult is one run of the binary.
type cliResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r cliResult) want(t *testing.T, code int, stderrHas ...string) cliResult {
	t.Helper()
	if r.code != code {
		t.Errorf("deskpilot %v: exit code %d, want %d\nstdout: %s\nstderr: %s", r.args, r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("deskpilot %v: stderr %q lacks %q", r.args, r.stderr, s)
		}
	}
	return r
}

func (r cliResult) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("deskpilot %v: stdout is not JSON: %v\n%s\nstderr: %s", r.args, err, r.stdout, r.stderr)
	}
}

// pollCLI checks cond every 100 ms until it holds, failing the test after limit or when the
// daemon exits.
func pollCLI(t *testing.T, d *daemon, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("the daemon exited (%v) while waiting for %s; its log:\n%s", err, what, d.logs)
		case <-deadline:
			t.Fatalf("timed out waiting for %s; the daemon's log:\n%s", what, tail(d.logs.String(), 40))
		case <-tick.C:
		}
	}
}
