package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/window"
)

func TestPlanner_Plan(t *testing.T) {
	now := time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC) // Saturday
	def := window.MustParse("sun:02:00-sun:05:00 Europe/Berlin")
	c := New(Config{DefaultWindow: def, FleetWindows: map[string]window.Window{"night": window.MustParse("sat:22:00-sun:01:00 America/New_York")}}, nil, nil, nil, nil, nil)
	img := Image{Name: "img-2", ARN: "arn:img-2", State: "AVAILABLE", Platform: "WINDOWS_SERVER_2022"}
	win := Fleet{State: "RUNNING", Platform: "WINDOWS_SERVER_2022", Type: "ALWAYS_ON"}
	fleets := map[string]Fleet{
		"a": win, "night": win, "tagged": win,
		"elastic":       {State: "RUNNING", Type: "ELASTIC", Platform: "WINDOWS_SERVER_2022"},
		"linux":         {State: "RUNNING", Platform: "AMAZON_LINUX2", Type: "ALWAYS_ON"},
		"stopped-linux": {State: "STOPPED", Platform: "AMAZON_LINUX2", Type: "ALWAYS_ON"},
	}
	tags := map[string]map[string]string{
		"tagged": {"MaintenanceWindow": "sat:19:00-sat:23:00"},
		"bad":    {"MaintenanceWindow": "someday"},
	}
	fleets["bad"] = win
	tests := []struct {
		name      string
		fleets    []string
		wantStart map[string]string // fleet → window start (UTC)
		wantErr   []string
	}{
		{"default window", []string{"a"}, map[string]string{"a": "2026-11-29T01:00:00Z"}, nil},
		{"config override", []string{"night"}, map[string]string{"night": "2026-11-29T03:00:00Z"}, nil},
		{"fleet tag override, open now", []string{"tagged"}, map[string]string{"tagged": "2026-11-28T20:00:00Z"}, nil},
		{"stopped fleet may change OS", []string{"stopped-linux"}, map[string]string{"stopped-linux": "2026-11-29T01:00:00Z"}, nil},
		{"every problem at once", []string{"a", "missing", "elastic", "linux", "bad"}, nil,
			[]string{`fleet "missing" does not exist`, `fleet "elastic" is ELASTIC`, `fleet "linux" runs AMAZON_LINUX2`, `fleet "bad": tag MaintenanceWindow`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, _, err := c.planner.Plan(Request{Fleets: tt.fleets}, img, fleets, tags, now)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("planned %+v, want a refusal", steps)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("refusal %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				if got := s.WindowStart.Format(time.RFC3339); got != tt.wantStart[s.Fleet] {
					t.Errorf("%s starts %s, want %s", s.Fleet, got, tt.wantStart[s.Fleet])
				}
				if s.State != StepWaiting || !s.NextAt.Equal(s.WindowStart) {
					t.Errorf("%s: %+v", s.Fleet, s)
				}
			}
		})
	}
}
