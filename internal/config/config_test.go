package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deskpilot/deskpilot/internal/window"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files with the current output")

// TestParse_golden parses each testdata/*.yaml and compares the result with
// the .golden file beside it: the canonical YAML dump if the file is valid,
// else the exact error text. Run with -update to rewrite the golden files.
func TestParse_golden(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.yaml")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			c, err := Parse(data)
			if err != nil {
				got = []byte("error:\n" + err.Error() + "\n")
			} else {
				// A valid file's dump is valid and reads back the same.
				got, err = c.YAML()
				if err != nil {
					t.Fatalf("YAML: %v", err)
				}
				again, err := Parse(got)
				if err != nil {
					t.Fatalf("Parse(YAML()): %v", err)
				}
				if diff := cmp.Diff(c, again, cmpopts.EquateEmpty(), ignoreToken); diff != "" {
					t.Errorf("Parse(YAML()) differs (-first +again):\n%s", diff)
				}
			}
			golden := strings.TrimSuffix(in, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestDefault_isValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

// The zero Config is safe to use: Validate reports what is missing rather
// than panicking.
func TestConfig_Validate_zero(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("Config{}.Validate() = nil")
	}
	if !strings.Contains(err.Error(), "rollouts.window: empty") {
		t.Errorf("Config{}.Validate() = %v; want it to report the missing window", err)
	}
}

func TestParse_emptyIsDefault(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n", "~\n", "rollouts:\n"} {
		c, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if diff := cmp.Diff(Default(), c); diff != "" {
			t.Errorf("Parse(%q) differs from Default() (-want +got):\n%s", in, diff)
		}
	}
}

func TestParse_awsRegionEnv(t *testing.T) {
	tests := []struct {
		name, env, file string
		want            string // region, or the error
	}{
		{"no env, no key: the SDK chain decides", "", "", ""},
		{"env, no key", "eu-west-1", "", "eu-west-1"},
		{"env, null key", "eu-west-1", "aws: {region: ~}", "eu-west-1"},
		{"env and key", "eu-west-1", "aws: {region: ap-southeast-2}", "ap-southeast-2"},
		{"env and merged key", "eu-west-1", "aws: {<<: {region: ap-south-1}}", "ap-south-1"},
		{"bad env, key", "Ireland", "aws: {region: ap-southeast-2}", "ap-southeast-2"},
		{"bad env, no key", "Ireland", "", `AWS_REGION: "Ireland" is not an AWS region name such as us-east-1 (the file names no aws.region, so the environment would set it)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tt.env)
			c, err := Parse([]byte(tt.file))
			got := c.AWS.Region
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParse_errors(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	tests := []struct{ file, want string }{
		{"rollouts: [1]", "rollouts: want a mapping, got a list"},
		{"rollouts:\n  max_parallel: [1]\n", "rollouts.max_parallel: want an integer, got a list"},
		{"notify:\n  email:\n    to: admins@example.com\n", `notify.email.to: want a list, got a string "admins@example.com"`},
		{"notify: {per_fleet: 1}", `notify.per_fleet: want true or false, got an integer "1"`},
		{"rollouts:\n  scan_interval: 60\n", `rollouts.scan_interval: "60" has no unit; write 60s, 60m or 60h`},
		{"rollouts:\n  scan_interval: {s: 1}\n", "rollouts.scan_interval: want a duration such as 90s, 15m or 2h"},
		{"rollouts:\n  window: [sun]\n", `rollouts.window: want a window such as "sun:02:00-sun:05:00 Europe/Berlin"`},
		{"rollouts:\n  window: \"\"\n", `rollouts.window: empty; want a window such as "sun:02:00-sun:05:00 Europe/Berlin"`},
		{"store: {path: a}\nstore: {path: b}\n", "store: key given twice (first at line 1)"},
		{"- a\n", "line 1: want a mapping, got a list"},
		{"aws: {region: eu-west-1}\n---\naws: {region: eu-west-2}\n", "line 2: a second YAML document; the file must hold one"},
		{"aws: [", "yaml: line 1: did not find expected node content"},
		{"notify: {email: {smtp: {hots: x}}}", "notify.email.smtp.hots: unknown key"},
		{"server: {addr: localhost}", `server.addr: "localhost" is not host:port, such as 127.0.0.1:8080 (empty turns the server off)`},
		{"workspaces: {sns: {topics: [arn:aws:sns:us-east-1:123456789012:t]}}\nserver: {addr: ''}\n", "workspaces.sns.topics: set, but server.addr is empty, so no notification can arrive"},
		{"rollouts: {tags: {status: Min}}", `rollouts.tags.saved_min: "Min" is also rollouts.tags.status; every tag key must differ`},
		{"notify: {webhook_secret_env: $SECRET}", `notify.webhook_secret_env: "$SECRET" is not the name of an environment variable (write the name, without $)`},
		{"rollouts: {waves: {sise: 2}}", "rollouts.waves.sise: unknown key"},
		{"rollouts: {health: {timeout: 30}}", `rollouts.health.timeout: "30" has no unit; write 30s, 30m or 30h`},
		{"rollouts: {waves: {size: two}}", `rollouts.waves.size: want an integer, got a string "two"`},
		{"rollouts: {drain: {mode: drain}}", `rollouts.drain.mode: "drain" is not "none", "scale-to-zero", "sessions" or "deadline"`},
		{"rollouts: {drain: {session_deadline: 0s}}", "rollouts.drain.session_deadline: must be positive and at most 24h, got 0s"},
		{"rollouts: {drain: {session_deadline: 25h}}", "rollouts.drain.session_deadline: must be positive and at most 24h, got 25h"},
		{"rollouts: {drain: {warning: -1m}}", "rollouts.drain.warning: must not be negative, got -1m"},
		{"rollouts: {drain: {session_deadline: 1h, warning: 1h}}", "rollouts.drain.warning: must be shorter than rollouts.drain.session_deadline (1h), got 1h"},
		{"rollouts: {drain: {sesion_deadline: 1h}}", "rollouts.drain.sesion_deadline: unknown key"},
		{"workspaces: {reset: {max_snapshot_wait: 0s}}", "workspaces.reset.max_snapshot_wait: must be positive and at most 48h, got 0s"},
		{"workspaces: {reset: {max_snapshot_wait: 49h}}", "workspaces.reset.max_snapshot_wait: must be positive and at most 48h, got 49h"},
		{"workspaces: {reset: {require_snapshot_after_logoff: yes please}}", `workspaces.reset.require_snapshot_after_logoff: want true or false, got a string "yes please"`},
	}
	// Past 20, the decoder's errors are counted, not listed.
	var many, want strings.Builder
	many.WriteString("rollouts:\n")
	for i := range 25 {
		fmt.Fprintf(&many, "  x%d: 1\n", i)
		if i < 20 {
			fmt.Fprintf(&want, "rollouts.x%d: unknown key\n", i)
		}
	}
	want.WriteString("and 5 more problems like these")
	tests = append(tests, struct{ file, want string }{many.String(), want.String()})
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

// ignoreToken leaves server.token out of comparisons of a Config with the
// Config its YAML dump reads back as: the dump writes it empty.
var ignoreToken = cmpopts.IgnoreFields(Server{}, "Token")

// The keys of progressive rollouts and the API token: good values are read,
// and each bad one is reported with its key.
func TestParse_progressive(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	tests := []struct {
		name, file string
		check      func(Config) bool // for a good file
		wantErr    string            // for a bad one
	}{
		{name: "defaults", file: "", check: func(c Config) bool {
			r := c.Rollouts
			return r.Waves == Waves{Size: 0, CanaryBake: Duration{10 * time.Minute}, Bake: Duration{0}} &&
				r.Health == Health{Timeout: Duration{30 * time.Minute}} && r.Rollback == "failed-wave" &&
				r.Tags.Canary == "Canary" && r.Tags.Waves == "Waves" && r.Tags.Approval == "Approval" && r.Tags.Approve == "Approve" &&
				c.Server.Token == ""
		}},
		{name: "every key", file: `
rollouts:
  waves: {size: 3, canary_bake: 1h, bake: 5m}
  health: {timeout: 45m, check_url: "https://health.example.com/check?key=abc"}
  rollback: "off"
  tags: {canary: dp:canary, waves: dp:waves, approval: dp:approval, approve: dp:approve}
server: {token: s3cr3t-t0ken}
`, check: func(c Config) bool {
			r := c.Rollouts
			return r.Waves == Waves{Size: 3, CanaryBake: Duration{time.Hour}, Bake: Duration{5 * time.Minute}} &&
				r.Health == Health{Timeout: Duration{45 * time.Minute}, CheckURL: "https://health.example.com/check?key=abc"} &&
				r.Rollback == RollbackOff &&
				r.Tags.Canary == "dp:canary" && r.Tags.Waves == "dp:waves" && r.Tags.Approval == "dp:approval" && r.Tags.Approve == "dp:approve" &&
				c.Server.Token == "s3cr3t-t0ken"
		}},
		{name: "zero bakes", file: "rollouts: {waves: {canary_bake: 0s, bake: 0s}}", check: func(c Config) bool {
			return c.Rollouts.Waves.CanaryBake.Duration == 0 && c.Rollouts.Waves.Bake.Duration == 0
		}},
		{name: "plain http check", file: "rollouts: {health: {check_url: 'http://127.0.0.1:9000/healthy'}}", check: func(c Config) bool {
			return c.Rollouts.Health.CheckURL == "http://127.0.0.1:9000/healthy"
		}},
		{name: "failed-wave", file: "rollouts: {rollback: failed-wave}", check: func(c Config) bool {
			return c.Rollouts.Rollback == RollbackFailedWave
		}},
		// YAML 1.1 reads a bare off as false; into a string the decoder reads it as written.
		{name: "bare off", file: "rollouts: {rollback: off}", check: func(c Config) bool {
			return c.Rollouts.Rollback == RollbackOff
		}},

		{name: "negative size", file: "rollouts: {waves: {size: -1}}",
			wantErr: "rollouts.waves.size: must be 0 (all remaining fleets in one wave) or more, got -1"},
		{name: "negative canary bake", file: "rollouts: {waves: {canary_bake: -1m}}",
			wantErr: "rollouts.waves.canary_bake: must not be negative, got -1m"},
		{name: "negative bake", file: "rollouts: {waves: {bake: -30s}}",
			wantErr: "rollouts.waves.bake: must not be negative, got -30s"},
		{name: "zero timeout", file: "rollouts: {health: {timeout: 0s}}",
			wantErr: "rollouts.health.timeout: must be positive, got 0s"},
		{name: "negative timeout", file: "rollouts: {health: {timeout: -5m}}",
			wantErr: "rollouts.health.timeout: must be positive, got -5m"},
		{name: "relative check URL", file: "rollouts: {health: {check_url: /healthy}}",
			wantErr: "rollouts.health.check_url: not an absolute http or https URL"},
		{name: "check URL without scheme", file: "rollouts: {health: {check_url: 'health.example.com/check?key=abc'}}",
			wantErr: "rollouts.health.check_url: not an absolute http or https URL"},
		{name: "check URL of another scheme", file: "rollouts: {health: {check_url: 'ftp://health.example.com/'}}",
			wantErr: "rollouts.health.check_url: not an absolute http or https URL"},
		{name: "unknown rollback", file: "rollouts: {rollback: all}",
			wantErr: `rollouts.rollback: "all" is not "failed-wave" or "off"`},
		{name: "empty rollback", file: "rollouts: {rollback: ''}",
			wantErr: `rollouts.rollback: "" is not "failed-wave" or "off"`},
		{name: "empty tag", file: "rollouts: {tags: {canary: ''}}",
			wantErr: "rollouts.tags.canary: empty"},
		{name: "reserved tag", file: "rollouts: {tags: {waves: 'aws:waves'}}",
			wantErr: `rollouts.tags.waves: "aws:waves" starts with "aws:", which AWS reserves`},
		{name: "bad tag", file: "rollouts: {tags: {approval: 'needs*approval'}}",
			wantErr: `rollouts.tags.approval: "needs*approval" is not a tag key (letters, digits, spaces and _ . : / = + - @)`},
		{name: "long tag", file: "rollouts: {tags: {approve: " + strings.Repeat("a", 129) + "}}",
			wantErr: `rollouts.tags.approve: "` + strings.Repeat("a", 129) + `" is longer than 128 characters`},
		{name: "tag like an older one", file: "rollouts: {tags: {canary: FleetName}}",
			wantErr: `rollouts.tags.canary: "FleetName" is also rollouts.tags.fleet_name; every tag key must differ`},
		{name: "tags alike", file: "rollouts: {tags: {approval: Approve}}",
			wantErr: `rollouts.tags.approve: "Approve" is also rollouts.tags.approval; every tag key must differ`},
		{name: "token with a space", file: "server: {token: 'two words'}",
			wantErr: "server.token: must be visible ASCII characters without spaces (it is sent as Authorization: Bearer <token>)"},
		{name: "token not ASCII", file: "server: {token: 'pässword'}",
			wantErr: "server.token: must be visible ASCII characters without spaces (it is sent as Authorization: Bearer <token>)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.file))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Parse error:\n got %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tt.check(c) {
				t.Errorf("Parse gave rollouts %+v, server %+v", c.Rollouts, c.Server)
			}
		})
	}
}

// DESKPILOT_TOKEN wins over server.token when it is set; a bad one is
// reported under its own name, without its value.
func TestParse_tokenEnv(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	tests := []struct {
		name, env, file string
		want            string // token, or the error
	}{
		{"neither", "", "", ""},
		{"file only", "", "server: {token: from-file}", "from-file"},
		{"env only", "from-env", "", "from-env"},
		{"env wins", "from-env", "server: {token: from-file}", "from-env"},
		{"bad env", "from env", "server: {token: from-file}", "DESKPILOT_TOKEN: must be visible ASCII characters without spaces (it is sent as Authorization: Bearer <token>)"},
		{"bad env, bad file", "from\tenv", "server: {token: 'from file'}", "DESKPILOT_TOKEN: must be visible ASCII characters without spaces (it is sent as Authorization: Bearer <token>)\n" +
			"server.token: must be visible ASCII characters without spaces (it is sent as Authorization: Bearer <token>)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(TokenEnv, tt.env)
			c, err := Parse([]byte(tt.file))
			got := c.Server.Token
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.AWS.Region != "eu-central-1" {
		t.Errorf("region = %q", c.AWS.Region)
	}
	if _, err := Load("testdata/missing.yaml"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	_, err = Load("testdata/bad_window.yaml")
	if want := "config testdata/bad_window.yaml: rollouts.window: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load error = %v, want prefix %q", err, want)
	}
}

func TestConfig_WindowFor(t *testing.T) {
	c := Default()
	c.Rollouts.FleetWindows = map[string]Window{
		"fleet-a": {window.MustParse("sat:22:00-sun:01:00 America/New_York")},
	}
	tests := []struct {
		fleet string
		want  window.Window
	}{
		{"fleet-a", window.MustParse("sat:22:00-sun:01:00 America/New_York")},
		{"fleet-b", window.MustParse(DefaultWindow)},
		{"FLEET-A", window.MustParse(DefaultWindow)}, // fleet names are case-sensitive
		{"", window.MustParse(DefaultWindow)},
	}
	for _, tt := range tests {
		if got := c.WindowFor(tt.fleet); !got.Equal(tt.want) {
			t.Errorf("WindowFor(%q) = %q, want %q", tt.fleet, got, tt.want)
		}
	}
	if got := (Config{}).WindowFor("fleet-a"); !got.IsZero() {
		t.Errorf("zero Config: WindowFor = %q, want the zero Window", got)
	}
}

func TestDuration_UnmarshalText(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"60s", time.Minute, ""},
		{"2h", 2 * time.Hour, ""},
		{"15m", 15 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{" 5s ", 5 * time.Second, ""},
		{"-10s", -10 * time.Second, ""},
		{"0s", 0, ""},
		{"0", 0, ""},
		{"60", 0, `"60" has no unit; write 60s, 60m or 60h`},
		{"", 0, `"" is not a duration; want e.g. 90s, 15m or 2h`},
		{"1d", 0, `"1d" is not a duration; want e.g. 90s, 15m or 2h`},
		{"forever", 0, `"forever" is not a duration; want e.g. 90s, 15m or 2h`},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr || d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %q; want %v, %q", tt.in, d.Duration, gotErr, tt.want, tt.wantErr)
		}
	}
}

func TestDuration_String(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Minute, "1m"},
		{10 * time.Second, "10s"},
		{90 * time.Second, "1m30s"},
		{2 * time.Hour, "2h"},
		{10 * time.Hour, "10h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{-5 * time.Minute, "-5m"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		d := Duration{tt.in}
		if got := d.String(); got != tt.want {
			t.Errorf("Duration{%v}.String() = %q, want %q", tt.in, got, tt.want)
		}
		var back Duration
		if err := back.UnmarshalText([]byte(d.String())); err != nil || back != d {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", d.String(), back, err, d)
		}
	}
}

func TestLongestRange(t *testing.T) {
	berlinSpring := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)  // a Sunday: 02:00 becomes 03:00
	berlinAutumn := time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC) // a Sunday: 03:00 becomes 02:00
	tests := []struct {
		window string
		from   time.Time
		want   time.Duration
	}{
		{"sun:02:00-sun:05:00", sampleFrom, 3 * time.Hour},
		{"sat:22:00-sun:01:00 America/New_York", sampleFrom, 3 * time.Hour},
		{"wed:22:00-wed:23:30,sun:01:00-sun:02:00", sampleFrom, 90 * time.Minute},
		{"mon:00:00-sun:23:59 Australia/Lord_Howe", sampleFrom, 7*24*time.Hour - time.Minute},
		// Openings on a daylight-saving day are measured as written: the
		// first is 3h in real time in spring and 5h in autumn; the second
		// ends in the skipped hour in spring (its end reads 03:00); the
		// third spans the repeated hour in autumn (2h in real time).
		{"sun:01:00-sun:05:00 Europe/Berlin", berlinSpring, 4 * time.Hour},
		{"sun:01:00-sun:05:00 Europe/Berlin", berlinAutumn, 4 * time.Hour},
		{"sun:01:00-sun:02:30 Europe/Berlin", berlinSpring, 90 * time.Minute},
		{"sun:02:30-sun:03:30 Europe/Berlin", berlinAutumn, time.Hour},
	}
	for _, tt := range tests {
		// Starting on the day of the change, and a week earlier, so that
		// the changed opening is the first or the second of the three.
		for _, from := range []time.Time{tt.from, tt.from.AddDate(0, 0, -7)} {
			if got := longestRange(window.MustParse(tt.window), from); got != tt.want {
				t.Errorf("longestRange(%q, %s) = %v, want %v", tt.window, from.Format(time.DateOnly), got, tt.want)
			}
		}
	}
}

func TestNotify_secrets(t *testing.T) {
	t.Setenv("TEST_SMTP_PASSWORD", "hunter2")
	t.Setenv("TEST_WEBHOOK_SECRET", "s3cret")
	n := Notify{Email: Email{SMTP: SMTP{PasswordEnv: "TEST_SMTP_PASSWORD"}}, WebhookSecretEnv: "TEST_WEBHOOK_SECRET"}
	if got := n.SMTPPassword(); got != "hunter2" {
		t.Errorf("SMTPPassword() = %q", got)
	}
	if got := n.WebhookSecret(); got != "s3cret" {
		t.Errorf("WebhookSecret() = %q", got)
	}
	if got := (Notify{}).SMTPPassword(); got != "" {
		t.Errorf("zero Notify: SMTPPassword() = %q", got)
	}
}

// The dump never contains the value of a secret, only the variable's name,
// nor the API token.
func TestConfig_YAML_noSecrets(t *testing.T) {
	t.Setenv("TEST_SMTP_PASSWORD", "hunter2")
	c := Default()
	c.Notify.Email.SMTP.PasswordEnv = "TEST_SMTP_PASSWORD"
	c.Server.Token = "api-t0ken"
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("hunter2")) {
		t.Errorf("YAML() contains the password:\n%s", out)
	}
	if bytes.Contains(out, []byte("api-t0ken")) {
		t.Errorf("YAML() contains the token:\n%s", out)
	}
	if c.Server.Token != "api-t0ken" {
		t.Errorf("YAML() changed the Config's token")
	}
}

// The drain keys: the defaults, and the edges of what is valid.
func TestParse_drain(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	d := Default().Rollouts.Drain
	if want := (Drain{Mode: DrainNone, SessionDeadline: Duration{4 * time.Hour}, Warning: Duration{30 * time.Minute}}); d != want {
		t.Errorf("default drain = %+v, want %+v", d, want)
	}
	for _, tt := range []struct {
		file string
		want Drain
	}{
		{"rollouts: {drain: {mode: deadline, session_deadline: 24h, warning: 0s}}", Drain{DrainDeadline, Duration{24 * time.Hour}, Duration{}}},
		{"rollouts: {drain: {mode: scale-to-zero}}", Drain{DrainScaleToZero, Duration{4 * time.Hour}, Duration{30 * time.Minute}}},
		{"rollouts: {drain: {mode: sessions, session_deadline: 1h, warning: 59m}}", Drain{DrainSessions, Duration{time.Hour}, Duration{59 * time.Minute}}},
	} {
		c, err := Parse([]byte(tt.file))
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.file, err)
			continue
		}
		if c.Rollouts.Drain != tt.want {
			t.Errorf("Parse(%q).Rollouts.Drain = %+v, want %+v", tt.file, c.Rollouts.Drain, tt.want)
		}
	}
}
