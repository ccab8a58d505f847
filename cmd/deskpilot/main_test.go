package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.yaml.in/yaml/v3"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/app"
	"github.com/deskpilot/deskpilot/internal/config"
	"github.com/deskpilot/deskpilot/internal/rollout"
	"github.com/deskpilot/deskpilot/sim"
)

// These tests run the command line in-process against a real daemon (app.Main, its HTTP API
// on a local port) on the emulator, with the emulator's manual clock; e2e/cli_test.go runs the
// built binary against `deskpilot serve`.

// t0 is the clock's start: a Sunday, 02:00 UTC.
var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

const testToken = "s3cret-t0ken"

var estate = sim.Seed{
	Images: []sim.ImageSpec{{Name: "img-1"}, {Name: "img-2"}},
	Fleets: []sim.SeedFleet{
		{Name: "fleet-a", ImageName: "img-1", DesiredInstances: 2, ScalableTarget: &sim.SeedScalingTarget{MinCapacity: 2, MaxCapacity: 6}},
		{Name: "fleet-b", ImageName: "img-1", DesiredInstances: 1},
	},
}

// daemon is an app.Main serving its API on a local port.
type daemon struct {
	url string
	m   *app.Main
}

func startDaemon(t *testing.T, token string) *daemon {
	t.Helper()
	clock := sim.NewManualClock(t0)
	s := sim.New(sim.Options{Clock: clock})
	if err := s.ApplySeed(estate); err != nil {
		t.Fatal(err)
	}
	awsSrv := httptest.NewServer(s)
	t.Cleanup(awsSrv.Close)
	cfg, err := config.Parse(fmt.Appendf(nil, `
aws: {region: us-east-1, endpoint: %q}
store: {path: %q}
server: {addr: "127.0.0.1:0", token: %q}
rollouts: {window: "sun:04:00-sun:07:00 Europe/Berlin"}
`, awsSrv.URL, filepath.Join(t.TempDir(), "deskpilot.db"), token))
	if err != nil {
		t.Fatal(err)
	}
	m := &app.Main{Config: cfg, Now: clock.Now,
		AWSOptions: []func(*awsconfig.LoadOptions) error{awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))}}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.StartServer()
	return &daemon{url: "http://" + m.Addr(), m: m}
}

// rollouts puts a pending rollout of img-2 on fleet-a and a succeeded one of img-1 in the
// store, and returns their ids.
func (d *daemon) rollouts(t *testing.T) (pending, done int64) {
	t.Helper()
	p := rollout.Rollout{Account: "123456789012", Region: "us-east-1", ImageName: "img-2", ImageARN: "arn:aws:appstream:us-east-1:123456789012:image/img-2", FleetTag: "fleet-a",
		State: rollout.Pending, Start: t0.Add(time.Hour), Waves: 1, Wave: 1,
		Steps: []rollout.Step{{Fleet: "fleet-a", State: rollout.StepWaiting, WindowStart: t0.Add(time.Hour), WindowEnd: t0.Add(4 * time.Hour), NextAt: t0.Add(time.Hour), Wave: 1}}}
	s := rollout.Rollout{Account: "123456789012", Region: "us-east-1", ImageName: "img-1", ImageARN: "arn:aws:appstream:us-east-1:123456789012:image/img-1", FleetTag: "fleet-b",
		State: rollout.Succeeded, Start: t0.Add(-time.Hour), Waves: 1, Wave: 1, Reason: "every fleet runs the image",
		Steps: []rollout.Step{{Fleet: "fleet-b", State: rollout.StepDone, WindowStart: t0.Add(-time.Hour), WindowEnd: t0, Wave: 1}}}
	for _, r := range []*rollout.Rollout{&s, &p} {
		if err := d.m.Store.Apply(t.Context(), &rollout.Change{Create: r}); err != nil {
			t.Fatal(err)
		}
	}
	return p.ID, s.ID
}

// result is one run of the command line.
type result struct {
	code           int
	stdout, stderr string
}

// deskpilot runs the command line with env as its whole environment (DESKPILOT_SERVER is d's
// address unless env names one).
func deskpilot(t *testing.T, d *daemon, env map[string]string, args ...string) result {
	t.Helper()
	all := map[string]string{"USER": "alice"}
	if d != nil {
		all[ServerEnv] = d.url
	}
	for k, v := range env {
		all[k] = v
	}
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb, func(k string) string { return all[k] })
	return result{code, out.String(), errb.String()}
}

func (r result) want(t *testing.T, code int, stderrHas ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q lacks %q", r.stderr, s)
		}
	}
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not a %T: %v\n%s", v, err, r.stdout)
	}
	return v
}

func TestCLI_version(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := deskpilot(t, nil, nil, args...)
		r.want(t, 0)
		if r.stdout != "deskpilot "+buildVersion()+"\n" {
			t.Errorf("%v: %q", args, r.stdout)
		}
	}
	if r := deskpilot(t, nil, nil); r.code != 0 || !strings.Contains(r.stdout, "Available Commands") {
		t.Errorf("no command: %d %q", r.code, r.stdout)
	}
}

func TestCLI_usage(t *testing.T) {
	for _, args := range [][]string{
		{"frob"},
		{"rollout", "frob"},
		{"rollout", "show"},
		{"rollout", "show", "seven"},
		{"rollout", "cancel", "0"},
		{"rollout", "approve", "1", "2"},
		{"rollout", "list", "--nope"},
		{"rollout", "list", "--limit", "many"},
		{"-o", "xml", "fleets"},
		{"rollout", "plan", "--image", "img-2"},
		{"rollout", "plan", "--image", "img-2", "--fleets", "a", "--waves", "-1"},
		{"resets", "list", "--since", "yesterday"},
		{"fleets", "extra"},
		{"serve", "--log-level", "loud"},
		{"serve", "--log-format", "xml"},
		{"config", "print", "-o", "json"},
		{"iam-policy", "--features", "rollouts,nope"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := deskpilot(t, nil, map[string]string{ServerEnv: "http://127.0.0.1:1"}, args...)
			r.want(t, exitUsage, "deskpilot: ", "--help' for usage")
		})
	}
}

func TestCLI_unreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"rollout", "list"}, {"status"}, {"fleets"}, {"rollout", "cancel", "1"}, {"--server", addr, "resets", "pending"}} {
		r := deskpilot(t, nil, map[string]string{ServerEnv: "http://" + addr}, args...)
		r.want(t, exitUnreachable, "cannot reach deskpilot at http://"+addr, `is "deskpilot serve" running?`, "DESKPILOT_SERVER")
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: stderr is not one line: %q", args, r.stderr)
		}
	}
}

func TestCLI_rollouts(t *testing.T) {
	d := startDaemon(t, testToken)
	pending, done := d.rollouts(t)
	r := deskpilot(t, d, nil, "rollout", "list")
	r.want(t, 0)
	for _, want := range []string{"ID", "IMAGE", fmt.Sprintf("%d  ", pending), "img-2", "pending", "succeeded"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rollout list lacks %q:\n%s", want, r.stdout)
		}
	}
	list := decode[api.RolloutList](t, deskpilot(t, d, nil, "rollout", "list", "-o", "json", "--state", "active"))
	if len(list.Rollouts) != 1 || list.Rollouts[0].ID != pending || list.Rollouts[0].Steps[0].Fleet != "fleet-a" {
		t.Errorf("rollout list --state active -o json: %+v", list)
	}
	var asYAML map[string][]map[string]any
	y := deskpilot(t, d, nil, "rollouts", "list", "-o", "yaml", "--image", "img-1")
	if err := yaml.Unmarshal([]byte(y.stdout), &asYAML); err != nil || len(asYAML["rollouts"]) != 1 || asYAML["rollouts"][0]["image_name"] != "img-1" {
		t.Errorf("-o yaml: %v\n%s", err, y.stdout)
	}

	show := deskpilot(t, d, nil, "rollout", "show", fmt.Sprint(pending))
	show.want(t, 0)
	for _, want := range []string{"image img-2 to fleet-a", "State:", "pending", "FLEET", "fleet-a", "waiting"} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("rollout show lacks %q:\n%s", want, show.stdout)
		}
	}
	detail := decode[api.RolloutDetail](t, deskpilot(t, d, nil, "rollout", "show", fmt.Sprint(pending), "-o", "json"))
	if detail.Rollout.ID != pending || len(detail.Waves) != 1 || detail.Events == nil {
		t.Errorf("rollout show -o json: %+v", detail)
	}
	deskpilot(t, d, nil, "rollout", "show", "999").want(t, exitNotFound, "rollout 999 does not exist")

	// The token: missing, wrong, right (from the flag, then from the environment).
	deskpilot(t, d, nil, "rollout", "cancel", fmt.Sprint(pending)).want(t, exitAuth, "missing bearer token", TokenEnv)
	deskpilot(t, d, map[string]string{TokenEnv: "wrong"}, "rollout", "cancel", fmt.Sprint(pending)).want(t, exitAuth, "wrong bearer token", TokenEnv)
	deskpilot(t, d, map[string]string{TokenEnv: testToken}, "rollout", "cancel", "999").want(t, exitNotFound, "rollout 999 does not exist")
	c := deskpilot(t, d, map[string]string{TokenEnv: "wrong"}, "--token", testToken, "rollout", "cancel", fmt.Sprint(pending))
	c.want(t, 0)
	if want := fmt.Sprintf("rollout %d cancelled: now cancelled: cancelled by api:alice", pending); !strings.Contains(c.stdout, want) {
		t.Errorf("cancel: %q, want %q", c.stdout, want)
	}

	// Requests on a finished rollout conflict, say why, and change nothing.
	before := deskpilot(t, d, nil, "rollout", "show", fmt.Sprint(done), "-o", "json").stdout
	env := map[string]string{TokenEnv: testToken}
	deskpilot(t, d, env, "rollout", "cancel", fmt.Sprint(done)).want(t, exitConflict, fmt.Sprintf("rollout %d has ended (succeeded)", done))
	deskpilot(t, d, env, "rollout", "approve", fmt.Sprint(done)).want(t, exitConflict, "has ended")
	deskpilot(t, d, env, "rollout", "cancel", fmt.Sprint(pending)).want(t, exitConflict, "has ended (cancelled)")
	// A rollback of an ended rollout asks for --yes first (it would change fleets in service),
	// and this one (cancelled before it started) then conflicts: it changed no fleet.
	deskpilot(t, d, env, "rollout", "rollback", fmt.Sprint(done)).want(t, exitUsage, "run again with --yes")
	deskpilot(t, d, env, "rollout", "rollback", "--yes", fmt.Sprint(pending)).want(t, exitConflict, "changed no fleet")
	if after := deskpilot(t, d, nil, "rollout", "show", fmt.Sprint(done), "-o", "json").stdout; after != before {
		t.Errorf("a refused request changed the rollout:\n%s\n%s", before, after)
	}
	rs, _ := d.m.Store.Rollouts(t.Context(), 0)
	if len(rs) != 2 || rs[1].State != rollout.Succeeded {
		t.Errorf("rollouts %+v", rs)
	}
}

func TestCLI_noTokenOnTheDaemon(t *testing.T) {
	d := startDaemon(t, "")
	pending, _ := d.rollouts(t)
	deskpilot(t, d, map[string]string{TokenEnv: testToken}, "rollout", "approve", fmt.Sprint(pending)).
		want(t, exitAuth, "server.token", "DESKPILOT_TOKEN")
}

func TestCLI_plan(t *testing.T) {
	d := startDaemon(t, testToken)
	ok := deskpilot(t, d, nil, "rollout", "plan", "--image", "img-2", "--fleets", "fleet-a/fleet-b", "--scale-immediately")
	ok.want(t, 0)
	for _, want := range []string{"Plan:", "image img-2 (AVAILABLE) to fleet-a/fleet-b", "Would start:", "2026-03-01 03:00Z",
		"FleetName=fleet-a/fleet-b ScaleImmediately=True", "fleet-a", "2026-03-01 04:00 +01:00", "Europe/Berlin", "yes", "no"} {
		if !strings.Contains(ok.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, ok.stdout)
		}
	}
	res := decode[api.PlanResult](t, deskpilot(t, d, nil, "rollout", "plan", "--image", "img-2", "--fleets", "fleet-a/fleet-b",
		"--canary", "fleet-a", "--approval", "Manual", "-o", "json"))
	if res.Refused || len(res.Steps) != 2 || len(res.Waves) != 2 || !res.Waves[0].Canary || res.Tags["Approval"] != "Manual" {
		t.Errorf("plan -o json: %+v", res)
	}

	bad := deskpilot(t, d, nil, "rollout", "plan", "--image", "img-2", "--fleets", "fleet-a/nope")
	bad.want(t, exitError, "would be refused", `fleet "nope" does not exist`)
	if !strings.Contains(bad.stdout, "Refused:") || !strings.Contains(bad.stdout, `- fleet "nope" does not exist`) {
		t.Errorf("refused plan:\n%s", bad.stdout)
	}
	refused := deskpilot(t, d, nil, "rollout", "plan", "--image", "img-2", "--fleets", "nope", "-o", "json")
	refused.want(t, exitError)
	if res := decode[api.PlanResult](t, refused); !res.Refused || len(res.Reasons) != 1 || len(res.Steps) != 0 {
		t.Errorf("refused plan -o json: %+v", res)
	}
	deskpilot(t, d, nil, "rollout", "plan", "--image", "img-9", "--fleets", "fleet-a").want(t, exitNotFound, `image "img-9" does not exist`)
	if rs, _ := d.m.Store.Rollouts(t.Context(), 0); len(rs) != 0 {
		t.Errorf("the plans left rollouts: %+v", rs)
	}
}

func TestCLI_fleetsResetsStatus(t *testing.T) {
	d := startDaemon(t, testToken)
	d.rollouts(t)
	f := deskpilot(t, d, nil, "fleets")
	f.want(t, 0)
	for _, want := range []string{"NAME", "MIN/MAX", "fleet-a", "img-1", "2/6", "(pending, waiting)"} {
		if !strings.Contains(f.stdout, want) {
			t.Errorf("fleets lacks %q:\n%s", want, f.stdout)
		}
	}
	fl := decode[api.FleetList](t, deskpilot(t, d, nil, "fleets", "-o", "json"))
	if len(fl.Fleets) != 2 || fl.Fleets[0].ScalableTarget == nil || fl.Fleets[1].ScalableTarget != nil || fl.Fleets[0].Rollout == nil {
		t.Errorf("fleets -o json: %+v", fl)
	}

	resets := deskpilot(t, d, nil, "resets", "list", "--since", "7d", "-o", "json")
	if rl := decode[api.ResetList](t, resets); rl.Resets == nil || !strings.Contains(resets.stdout, `"resets": []`) {
		t.Errorf("resets list -o json: %s", resets.stdout)
	}
	deskpilot(t, d, nil, "resets", "list", "--since", "2026-02-01T00:00:00Z").want(t, 0)
	if p := decode[api.PendingResetList](t, deskpilot(t, d, nil, "resets", "pending", "-o", "json")); p.Pending == nil {
		t.Errorf("resets pending: %+v", p)
	}

	// Not ready before the loops' first pass (exit 1), ready after.
	notReady := deskpilot(t, d, nil, "status")
	notReady.want(t, exitError, "not ready", "no pass has worked yet")
	for _, want := range []string{"Ready:", "no", "FAIL no pass has worked yet", "Active rollouts:", "1 (1 pending, 0 running)", "Drained fleets:"} {
		if !strings.Contains(notReady.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, notReady.stdout)
		}
	}
	// The pass cancels the pending rollout: the image has no FleetName tag.
	if _, err := d.m.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := deskpilot(t, d, nil, "status")
	s.want(t, 0)
	for _, want := range []string{"Ready:", "yes", "store:", "ok writable", "aws:", "ok reachable", "Active rollouts:", "0 (0 pending, 0 running)", "Drained fleets:",
		"Targets:", "123456789012/us-east-1:", "ok (last good pass"} {
		if !strings.Contains(s.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, s.stdout)
		}
	}
	st := decode[status](t, deskpilot(t, d, nil, "status", "-o", "json"))
	if !st.Readiness.Ready || st.ActiveRollouts.Pending != 0 || st.DrainedFleets == nil || len(st.Readiness.Checks) != 6 ||
		len(st.Targets) != 1 || st.Targets[0].Account != "123456789012" || st.Targets[0].State != "ok" {
		t.Errorf("status -o json: %+v", st)
	}
}

func TestCLI_config(t *testing.T) {
	t.Setenv(TokenEnv, "env-t0ken-xyz") // config.Load reads the process's environment
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good, `aws: {region: eu-central-1}
server: {token: file-t0ken-abc}
rollouts: {window: "sun:02:00-sun:05:00 Europe/Berlin", health: {check_url: "https://health.example.com/check?key=k3y"}}
notify:
  webhooks: ["https://hooks.example.com/services/T0/B0/s3cretpath"]
`)
	deskpilot(t, nil, nil, "config", "validate", "--config", good).want(t, 0)
	p := deskpilot(t, nil, nil, "config", "print", "--config", good)
	p.want(t, 0)
	for _, secret := range []string{"env-t0ken-xyz", "file-t0ken-abc", "s3cretpath", "k3y"} {
		if strings.Contains(p.stdout, secret) {
			t.Errorf("config print shows %q:\n%s", secret, p.stdout)
		}
	}
	for _, want := range []string{"region: eu-central-1", "scan_interval: 1m", "https://hooks.example.com/REDACTED", "https://health.example.com/REDACTED", "Europe/Berlin"} {
		if !strings.Contains(p.stdout, want) {
			t.Errorf("config print lacks %q:\n%s", want, p.stdout)
		}
	}
	// What it prints is a configuration file.
	printed := filepath.Join(dir, "printed.yaml")
	write(printed, p.stdout)
	deskpilot(t, nil, nil, "config", "validate", "--config", printed).want(t, 0)

	bad := filepath.Join(dir, "bad.yaml")
	write(bad, "rollouts: {scan_interval: 1ms, windw: x}\n")
	r := deskpilot(t, nil, nil, "config", "validate", "--config", bad)
	r.want(t, exitError, "windw", "scan_interval")
	deskpilot(t, nil, nil, "config", "validate", "--config", filepath.Join(dir, "none.yaml")).want(t, exitError, "none.yaml")
}

func TestCLI_iamPolicy(t *testing.T) {
	if iamPolicy == nil {
		t.Skip("iam-policy is not wired")
	}
	r := deskpilot(t, nil, nil, "iam-policy", "--features", "rollouts, resets")
	r.want(t, 0)
	var doc struct {
		Version   string
		Statement []struct{ Action []string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
		t.Errorf("iam-policy: %v\n%s", err, r.stdout)
	}
	if !strings.Contains(r.stdout, "appstream:UpdateFleet") || !strings.Contains(r.stdout, "workspaces:RebuildWorkspaces") {
		t.Errorf("iam-policy lacks the rollouts' or resets' actions:\n%s", r.stdout)
	}
	roles := deskpilot(t, nil, nil, "iam-policy", "--assume-roles", "arn:aws:iam::111111111111:role/deskpilot,arn:aws:iam::222222222222:role/deskpilot")
	roles.want(t, 0)
	if !strings.Contains(roles.stdout, `"AssumeTargetRoles"`) || !strings.Contains(roles.stdout, "arn:aws:iam::222222222222:role/deskpilot") {
		t.Errorf("iam-policy --assume-roles lacks the AssumeRole statement:\n%s", roles.stdout)
	}
	deskpilot(t, nil, nil, "iam-policy", "--assume-roles", "deskpilot").want(t, 2, "is not an IAM role ARN")
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h": now.Add(-24 * time.Hour), "90m": now.Add(-90 * time.Minute), "7d": now.Add(-7 * 24 * time.Hour),
		"2026-03-01T00:00:00Z": time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-5h", "xd", "2026-03-01"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) succeeded", in)
		}
	}
}

// A log line has one msg, the record's: an attribute called msg becomes detail.
func TestLogger_oneMsg(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		log, err := newLogger(&b, format, "debug")
		if err != nil {
			t.Fatal(err)
		}
		log.With("component", "rollouts").Info("rollout step", "fleet", "fleet-a", "msg", "drained in 3s")
		log.With("msg", "from With").Debug("request")
		log.WithGroup("g").Info("grouped", "msg", "stays")
		log.Info("inline", slog.Group("", "msg", "inlined"))
		log.Info("plain", "fleet", "fleet-b")
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if len(lines) != 5 {
			t.Fatalf("%s: %d lines:\n%s", format, len(lines), b.String())
		}
		for i, want := range []string{"drained in 3s", "from With", "", "inlined", ""} {
			if n := strings.Count(lines[i], "msg"); n != 1 && !(i == 2 && n == 2) {
				t.Errorf("%s: line %q has %d msg keys", format, lines[i], n)
			}
			if want != "" && !strings.Contains(lines[i], "detail") {
				t.Errorf("%s: line %q lacks detail", format, lines[i])
			}
		}
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["msg"] != "rollout step" || rec["detail"] != "drained in 3s" {
				t.Errorf("json line %q: %v", lines[0], rec)
			}
		}
	}
	if _, err := newLogger(&bytes.Buffer{}, "json", "INFO"); err != nil {
		t.Errorf("--log-level INFO: %v", err)
	}
}

// With rollouts in several accounts or regions, the table says where each is; with one, it has
// no TARGET column.
func TestCLI_rolloutListTargets(t *testing.T) {
	d := startDaemon(t, testToken)
	d.rollouts(t)
	one := deskpilot(t, d, nil, "rollout", "list")
	one.want(t, 0)
	if strings.Contains(one.stdout, "TARGET") {
		t.Errorf("one target, yet a TARGET column:\n%s", one.stdout)
	}
	other := rollout.Rollout{Account: "222222222222", Region: "eu-west-1", ImageName: "img-2", ImageARN: "arn:aws:appstream:eu-west-1:222222222222:image/img-2",
		FleetTag: "fleet-a", State: rollout.Pending, Start: t0.Add(time.Hour), Waves: 1, Wave: 1,
		Steps: []rollout.Step{{Fleet: "fleet-a", State: rollout.StepWaiting, WindowStart: t0.Add(time.Hour), WindowEnd: t0.Add(4 * time.Hour), NextAt: t0.Add(time.Hour), Wave: 1}}}
	if err := d.m.Store.Apply(t.Context(), &rollout.Change{Create: &other}); err != nil {
		t.Fatal(err)
	}
	many := deskpilot(t, d, nil, "rollout", "list")
	many.want(t, 0)
	for _, want := range []string{"TARGET", "222222222222/eu-west-1", "123456789012/us-east-1"} {
		if !strings.Contains(many.stdout, want) {
			t.Errorf("rollout list lacks %q:\n%s", want, many.stdout)
		}
	}
}
