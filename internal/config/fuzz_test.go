package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts it
// prints as a file it accepts again and reads back equal. nil and empty lists
// and maps count as equal, as the file cannot tell them apart.
func FuzzParse(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/*.yaml")
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"rollouts: {window: 'sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York', start_margin: 1h}",
		"rollouts: {fleet_windows: {a: 'sun:02:30-sun:05:00 Europe/Berlin'}, start_margin: 2h29m}",
		"rollouts: {tags: {fleet_name: 'Fleet Name', status: 'x/y=z+@'}}",
		"workspaces: {reset: {quiet_hours: 'mon:08:00-fri:18:00 Asia/Kolkata'}}",
		"notify: {email: {to: [a@b.c], from: x@y.z, via: smtp, smtp: {host: h, port: 465, tls: tls}}}",
		"a: &x {b: 1}\nc: *x\n",
		"aws: {region: us-gov-west-1, endpoint: 'HTTP://[::1]:4566/'}",
		"rollouts: {scan_interval: 1.5s, drain_timeout: 1h0m0.000000001s}",
		"rollouts: {tags: {status: \"St\\u2028atus \", saved_min: \"\\u00a0Min\"}}",
		"workspaces: {reset: {selectors: {users: [\"-\", \"null\", \" a\"]}}, sns: {topics: [arn:aws-cn:sns:cn-north-1:123456789012:t.fifo]}}",
		"rollouts: {waves: {size: 2, canary_bake: 0s, bake: 1h}, health: {timeout: 1m, check_url: 'http://h/c?a=1#f'}, rollback: 'off'}",
		"server: {token: '!~x'}\nrollouts: {tags: {canary: 'C a', waves: W, approval: '@', approve: '='}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		out, err := c.YAML()
		if err != nil {
			t.Fatalf("Parse accepted %q, but YAML() failed: %v", data, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse accepted %q, but not its dump:\n%s\nerror: %v", data, out, err)
		}
		if diff := cmp.Diff(c, again, cmpopts.EquateEmpty(), ignoreToken); diff != "" {
			t.Fatalf("Parse(%q) and Parse of its dump differ (-first +again):\n%s\ndump:\n%s", data, diff, out)
		}
	})
}
