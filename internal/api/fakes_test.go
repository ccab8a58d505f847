package api_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/internal/api"
	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// t0 is the tests' clock.
var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

const token = "s3cret-t0ken"

// fakeStore keeps rollouts, events, saved capacity and resets in memory, answering as the
// store does (newest first, oldest first, …). err fails every read.
type fakeStore struct {
	rollouts []rollout.Rollout // any order
	events   []history.Event
	saved    []rollout.SavedCapacity
	records  []reset.Record // oldest first
	tracked  map[string]reset.Tracked
	err      error
	pingErr  error
}

var (
	_ api.RolloutStore = (*fakeStore)(nil)
	_ api.ResetStore   = (*fakeStore)(nil)
	_ api.Pinger       = (*fakeStore)(nil)
)

func (f *fakeStore) sorted(desc bool) []rollout.Rollout {
	rs := slices.Clone(f.rollouts)
	slices.SortFunc(rs, func(a, b rollout.Rollout) int {
		if desc {
			return int(b.ID - a.ID)
		}
		return int(a.ID - b.ID)
	})
	return rs
}

func (f *fakeStore) Rollouts(_ context.Context, limit int) ([]rollout.Rollout, error) {
	if f.err != nil {
		return nil, f.err
	}
	rs := f.sorted(true)
	if limit > 0 && len(rs) > limit {
		rs = rs[:limit]
	}
	return rs, nil
}

func (f *fakeStore) ActiveRollouts(context.Context) ([]rollout.Rollout, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []rollout.Rollout
	for _, r := range f.sorted(false) {
		if r.State.Active() {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeStore) Rollout(_ context.Context, id int64) (rollout.Rollout, bool, error) {
	if f.err != nil {
		return rollout.Rollout{}, false, f.err
	}
	for _, r := range f.rollouts {
		if r.ID == id {
			return r, true, nil
		}
	}
	return rollout.Rollout{}, false, nil
}

func (f *fakeStore) Events(_ context.Context, id int64, limit int) ([]history.Event, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []history.Event
	for i := len(f.events) - 1; i >= 0; i-- { // newest first
		if e := f.events[i]; e.RolloutID == id {
			out = append(out, e)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) SavedCapacities(context.Context) ([]rollout.SavedCapacity, error) {
	return f.saved, f.err
}

func (f *fakeStore) Records(_ context.Context, since time.Time, limit int) ([]reset.Record, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []reset.Record
	for _, r := range f.records {
		if !r.At.Before(since) {
			out = append(out, r)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) Trackers(context.Context) (map[string]reset.Tracked, error) {
	return f.tracked, f.err
}

func (f *fakeStore) Ping(context.Context) error { return f.pingErr }

// fakeRequester stands in for the rollout controller: it answers every request with ro and
// err, and records the requests.
type fakeRequester struct {
	ro    rollout.Rollout
	err   error
	waves []rollout.WavePlan

	mu    sync.Mutex
	calls []requestCall
}

type requestCall struct {
	ID   int64
	Kind rollout.RequestKind
	By   string
}

var _ api.Requester = (*fakeRequester)(nil)

func (f *fakeRequester) Request(_ context.Context, id int64, kind rollout.RequestKind, by string) (rollout.Rollout, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, requestCall{id, kind, by})
	return f.ro, f.err
}

func (f *fakeRequester) Plan(rollout.Rollout) []rollout.WavePlan { return f.waves }

func (f *fakeRequester) requests() []requestCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakePlanner answers every dry run with res and err, and records the requests.
type fakePlanner struct {
	res api.PlanResult
	err error

	mu   sync.Mutex
	reqs []api.PlanRequest
}

func (f *fakePlanner) DryRun(_ context.Context, req api.PlanRequest) (api.PlanResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return f.res, f.err
}

// fakeFleets is AppStream's fleets and Application Auto Scaling's targets.
type fakeFleets struct {
	fleets     map[string]rollout.Fleet
	targets    map[string]rollout.Target
	err        error
	targetsErr error
}

func (f *fakeFleets) Fleets(context.Context, []string) (map[string]rollout.Fleet, error) {
	return f.fleets, f.err
}

func (f *fakeFleets) Targets(context.Context, []string) (map[string]rollout.Target, error) {
	return f.targets, f.targetsErr
}

// estate is a store with a rollout of each kind, and AWS with three fleets.
func estate() (*fakeStore, *fakeFleets) {
	arn := func(name string) string { return "arn:aws:appstream:us-east-1:123456789012:image/" + name }
	st := &fakeStore{
		rollouts: []rollout.Rollout{
			{ID: 1, ImageName: "img-1", ImageARN: arn("img-1"), FleetTag: "fleet-a", State: rollout.Succeeded, Start: t0.Add(-48 * time.Hour),
				CreatedAt: t0.Add(-49 * time.Hour), UpdatedAt: t0.Add(-47 * time.Hour), Waves: 1, Wave: 1, Reason: "every fleet runs the image",
				Steps: []rollout.Step{{RolloutID: 1, Fleet: "fleet-a", State: rollout.StepDone, WindowStart: t0.Add(-48 * time.Hour),
					WindowEnd: t0.Add(-45 * time.Hour), StartedAt: t0.Add(-48 * time.Hour), FinishedAt: t0.Add(-47 * time.Hour), Wave: 1}}},
			{ID: 2, ImageName: "img-2", ImageARN: arn("img-2"), FleetTag: "fleet-a/fleet-b", ScaleImmediately: true, State: rollout.Running,
				Start: t0, CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0, Canary: "fleet-a", Waves: 2, Wave: 1,
				Steps: []rollout.Step{
					{RolloutID: 2, Fleet: "fleet-a", State: rollout.StepDraining, WindowStart: t0, WindowEnd: t0.Add(3 * time.Hour), Drain: true,
						SavedMin: 3, SavedMax: 8, DrainStartedAt: t0, StartedAt: t0, Wave: 1, PreviousImageARN: arn("img-1")},
					{RolloutID: 2, Fleet: "fleet-b", State: rollout.StepWaiting, Wave: 2},
				}},
			{ID: 3, ImageName: "img-3", ImageARN: arn("img-3"), FleetTag: "fleet-b/fleet-c", State: rollout.Pending, Start: t0.Add(24 * time.Hour),
				CreatedAt: t0, UpdatedAt: t0, Waves: 1, Wave: 1,
				Steps: []rollout.Step{
					{RolloutID: 3, Fleet: "fleet-b", State: rollout.StepWaiting, WindowStart: t0.Add(24 * time.Hour), WindowEnd: t0.Add(27 * time.Hour), Wave: 1},
					{RolloutID: 3, Fleet: "fleet-c", State: rollout.StepWaiting, WindowStart: t0.Add(24 * time.Hour), WindowEnd: t0.Add(27 * time.Hour), Wave: 1},
				}},
			{ID: 4, ImageName: "img-2", ImageARN: arn("img-2"), FleetTag: "nope", State: rollout.Refused, CreatedAt: t0.Add(-2 * time.Hour),
				UpdatedAt: t0.Add(-2 * time.Hour), Reason: `fleet "nope" does not exist`},
		},
		events: []history.Event{
			{ID: 10, At: t0.Add(-time.Hour), Kind: history.Planned, RolloutID: 2, State: "pending", Reason: "image img-2 to fleet-a/fleet-b"},
			{ID: 11, At: t0, Kind: history.Started, RolloutID: 2, State: "running"},
			{ID: 12, At: t0, Kind: history.Call, RolloutID: 2, Fleet: "fleet-a", Call: "UpdateFleet", Result: history.ResultOK},
			{ID: 13, At: t0, Kind: history.Reset, WorkspaceID: "ws-1"},
		},
		saved: []rollout.SavedCapacity{{Account: "123456789012", Region: "us-east-1", Fleet: "fleet-a", Min: 3, Max: 8, RolloutID: 2, SavedAt: t0}},
		records: []reset.Record{
			{At: t0.Add(-30 * time.Hour), WorkspaceID: "ws-old", UserName: "old", Mode: reset.Rebuild, Outcome: "reset", Reason: "logged off"},
			{At: t0.Add(-time.Hour), WorkspaceID: "ws-1", UserName: "alice", Mode: reset.Rebuild, Outcome: "logoff", Reason: "disconnected"},
			{At: t0.Add(-30 * time.Minute), WorkspaceID: "ws-1", UserName: "alice", Mode: reset.Rebuild, Outcome: "reset", Reason: "rebuilt"},
		},
		tracked: map[string]reset.Tracked{
			"ws-1": {ID: "ws-1", Mode: reset.Rebuild, UserName: "alice", Phase: reset.Idle},
			"ws-2": {ID: "ws-2", Mode: reset.Restore, UserName: "bob", Phase: reset.Grace, DisconnectedAt: t0.Add(-5 * time.Minute), DueAt: t0.Add(10 * time.Minute), LastState: "DISCONNECTED",
				Waiting: "a snapshot newer than the logoff"},
			"ws-3": {ID: "ws-3", Mode: reset.Rebuild, UserName: "carol", Phase: reset.Grace, DisconnectedAt: t0.Add(-14 * time.Minute), DueAt: t0.Add(time.Minute), LastState: "DISCONNECTED"},
			"ws-4": {ID: "ws-4", Mode: reset.Rebuild, UserName: "dave", Phase: reset.InFlight, ResetStartedAt: t0.Add(-time.Minute), Attempts: 1},
		},
	}
	fl := &fakeFleets{
		fleets: map[string]rollout.Fleet{
			"fleet-a": {Name: "fleet-a", ARN: "arn:aws:appstream:us-east-1:123456789012:fleet/fleet-a", State: "RUNNING", Type: "ON_DEMAND",
				ImageARN: arn("img-2"), Platform: "WINDOWS_SERVER_2022", Desired: 0, Running: 1, InUse: 1, Available: 0},
			"fleet-b": {Name: "fleet-b", ARN: "arn:aws:appstream:us-east-1:123456789012:fleet/fleet-b", State: "RUNNING", Type: "ALWAYS_ON",
				ImageARN: arn("img-1"), Desired: 2, Running: 2, Available: 2},
			"fleet-c": {Name: "fleet-c", ARN: "arn:aws:appstream:us-east-1:123456789012:fleet/fleet-c", State: "STOPPED", Type: "ON_DEMAND",
				ImageARN: arn("img-1"), Errors: []string{"IAM_SERVICE_ROLE_IS_MISSING: no role"}},
		},
		targets: map[string]rollout.Target{"fleet-a": {Suspended: rollout.Suspension{DynamicIn: true, DynamicOut: true, Scheduled: true}}, "fleet-b": {Capacity: rollout.Capacity{Min: 2, Max: 5}}},
	}
	return st, fl
}
