package api

import (
	"strings"
	"testing"
)

// The targets check passes while one target works: a failing target is isolated.
func TestTargetsCheck(t *testing.T) {
	ok := TargetStatus{Account: "111111111111", Region: "eu-central-1", Healthy: true, State: TargetOK}
	starting := TargetStatus{Account: "111111111111", Region: "eu-west-2", State: TargetStarting}
	denied := TargetStatus{Account: "111111111111", Region: "eu-west-1", State: TargetFailing, ErrorClass: "denied", LastError: "explicit deny in a service control policy"}
	tests := []struct {
		name    string
		targets []TargetStatus
		ok      bool
		message string
	}{
		{"all ok", []TargetStatus{ok, ok}, true, "2 of 2 targets ok"},
		{"one denied", []TargetStatus{ok, denied}, true, "1 of 2 targets ok; failing: 111111111111/eu-west-1 (denied: explicit deny in a service control policy)"},
		{"every target failing", []TargetStatus{denied, denied}, false, "0 of 2 targets ok; failing: "},
		{"starting is not failing", []TargetStatus{starting, denied}, true, "1 of 2 targets ok"},
	}
	for _, tt := range tests {
		c := TargetsCheck(tt.targets)
		if c.Name != "targets" || c.OK != tt.ok || !strings.HasPrefix(c.Message, tt.message) {
			t.Errorf("%s: %+v, want ok=%v and a message starting %q", tt.name, c, tt.ok, tt.message)
		}
	}
}
