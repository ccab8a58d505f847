package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/reset"
)

// A reset record names its target in snake_case, like the rollout objects; one without a
// target has empty strings, never absent fields.
func TestFromRecords_target(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	got := api.FromRecords([]reset.Record{
		{At: at, Account: "123456789012", Region: "eu-west-1", WorkspaceID: "ws-1", UserName: "alice", Mode: reset.Rebuild, Outcome: "reset", Reason: "logged off"},
		{At: at, WorkspaceID: "ws-2", UserName: "bob", Mode: reset.Restore, Outcome: "skipped"},
	})
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"at":"2026-03-01T08:00:00Z","account":"123456789012","region":"eu-west-1","workspace_id":"ws-1","user_name":"alice","mode":"rebuild","outcome":"reset","reason":"logged off"},` +
		`{"at":"2026-03-01T08:00:00Z","account":"","region":"","workspace_id":"ws-2","user_name":"bob","mode":"restore","outcome":"skipped","reason":""}]`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

// Pending lists the tracked WorkSpaces of every target, each naming its target; one WorkSpace
// ID tracked in two targets is two rows, in account and region order.
func TestPending_targets(t *testing.T) {
	due := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tracked := map[string]reset.Tracked{
		"ws-1":                        {ID: "ws-1", Account: "222222222222", Region: "eu-west-1", Mode: reset.Rebuild, Phase: reset.Grace, DueAt: due},
		"111111111111/eu-west-1/ws-1": {ID: "ws-1", Account: "111111111111", Region: "eu-west-1", Mode: reset.Rebuild, Phase: reset.Grace, DueAt: due},
		"ws-0":                        {ID: "ws-0", Account: "111111111111", Region: "us-east-1", Mode: reset.Restore, Phase: reset.Grace, DueAt: due.Add(time.Minute)},
		"ws-idle":                     {ID: "ws-idle", Account: "111111111111", Region: "eu-west-1", Phase: reset.Idle},
	}
	var got []string
	for _, p := range api.Pending(tracked) {
		got = append(got, p.Account+"/"+p.Region+"/"+p.WorkspaceID)
	}
	want := []string{"111111111111/eu-west-1/ws-1", "222222222222/eu-west-1/ws-1", "111111111111/us-east-1/ws-0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Pending (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(api.Pending(tracked)[0])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["account"] != "111111111111" || fields["region"] != "eu-west-1" || fields["workspace_id"] != "ws-1" {
		t.Errorf("pending reset JSON %s; want account, region and workspace_id", b)
	}
}
