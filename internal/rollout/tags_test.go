package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequest(t *testing.T) {
	keys := DefaultTagKeys()
	tests := []struct {
		name    string
		tags    map[string]string
		want    Request
		tagged  bool
		wantErr string
	}{
		{"no tag", map[string]string{"team": "x"}, Request{}, false, ""},
		{"one fleet", map[string]string{"FleetName": "fleet-a"}, Request{Fleets: []string{"fleet-a"}, FleetTag: "fleet-a"}, true, ""},
		{"recipe form with spaces and empties", map[string]string{"FleetName": " fleet-a / fleet-b//fleet-a ", "ScaleImmediately": "true"},
			Request{Fleets: []string{"fleet-a", "fleet-b"}, FleetTag: " fleet-a / fleet-b//fleet-a ", ScaleImmediately: true}, true, ""},
		{"ScaleImmediately any case", map[string]string{"FleetName": "f", "ScaleImmediately": " TRUE "}, Request{Fleets: []string{"f"}, FleetTag: "f", ScaleImmediately: true}, true, ""},
		{"ScaleImmediately other value", map[string]string{"FleetName": "f", "ScaleImmediately": "yes"}, Request{Fleets: []string{"f"}, FleetTag: "f"}, true, ""},
		{"empty value", map[string]string{"FleetName": " / "}, Request{FleetTag: " / "}, true, "names no fleet"},
		{"invalid name", map[string]string{"FleetName": "good/bad name!"}, Request{Fleets: []string{"good"}, FleetTag: "good/bad name!"}, true, `"bad name!" cannot be fleet names`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tagged, err := ParseRequest(tt.tags, keys)
			if tagged != tt.tagged {
				t.Errorf("tagged = %v, want %v", tagged, tt.tagged)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSaved(t *testing.T) {
	keys := DefaultTagKeys()
	tests := []struct {
		tags     map[string]string
		min, max int32
		ok       bool
	}{
		{map[string]string{"Min": "2", "Max": "10"}, 2, 10, true},
		{map[string]string{"Min": "0", "Max": "0"}, 0, 0, false},
		{map[string]string{"Min": "2"}, 0, 0, false},
		{map[string]string{"Min": "5", "Max": "2"}, 0, 0, false},
		{map[string]string{"Min": "-1", "Max": "2"}, 0, 0, false},
		{map[string]string{"Min": "x", "Max": "2"}, 0, 0, false},
	}
	for _, tt := range tests {
		lo, hi, ok := ParseSaved(tt.tags, keys)
		if lo != tt.min || hi != tt.max || ok != tt.ok {
			t.Errorf("ParseSaved(%v) = %d, %d, %v; want %d, %d, %v", tt.tags, lo, hi, ok, tt.min, tt.max, tt.ok)
		}
	}
}

func TestStatusPending(t *testing.T) {
	start := time.Date(2026, 11, 29, 1, 0, 0, 0, time.FixedZone("CET", 3600))
	if got := StatusPending(start); got != "Pending/2026-11-29T00:00:00Z" {
		t.Errorf("StatusPending = %s", got)
	}
}

// FuzzParseRequest: any tag value either yields valid, distinct fleet names or a clear error.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"fleet-a/fleet-b", " a / b ", "", "/", "a//a", "bad name", "ü/x", strings.Repeat("a", 102)} {
		f.Add(s, "True")
	}
	keys := DefaultTagKeys()
	f.Fuzz(func(t *testing.T, fleetTag, scale string) {
		req, tagged, err := ParseRequest(map[string]string{"FleetName": fleetTag, "ScaleImmediately": scale}, keys)
		if !tagged {
			t.Fatal("a FleetName tag was not seen")
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(req.Fleets) == 0 {
			t.Fatal("no error and no fleets")
		}
		seen := map[string]bool{}
		for _, name := range req.Fleets {
			if !fleetNamePattern.MatchString(name) || seen[name] {
				t.Fatalf("bad or repeated fleet name %q from %q", name, fleetTag)
			}
			seen[name] = true
		}
	})
}

func TestParseRequest_Prefixes(t *testing.T) {
	req, _, err := ParseRequest(map[string]string{"FleetName": "prefix:finance-/kiosk/prefix:"}, DefaultTagKeys())
	if err == nil || !strings.Contains(err.Error(), `"prefix:"`) {
		t.Errorf("an empty prefix was accepted: %v", err)
	}
	req, _, err = ParseRequest(map[string]string{"FleetName": "prefix:finance-/kiosk"}, DefaultTagKeys())
	if err != nil || !cmp.Equal(req.Prefixes, []string{"finance-"}) || !cmp.Equal(req.Fleets, []string{"kiosk"}) {
		t.Errorf("got %+v, %v", req, err)
	}
}
