package rollout

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequest_Progressive(t *testing.T) {
	keys := DefaultTagKeys()
	tests := []struct {
		name    string
		tags    map[string]string
		wantErr string
		check   func(Request) bool
	}{
		{"canary and waves", map[string]string{"FleetName": "a/b/c", "Canary": "a", "Waves": "2", "Approval": "manual"}, "",
			func(r Request) bool {
				return slices.Equal(r.CanaryFleets, []string{"a"}) && r.WaveSize == 2 && r.Approval
			}},
		{"canary prefix", map[string]string{"FleetName": "prefix:web-", "Canary": "prefix:web-1"}, "",
			func(r Request) bool { return slices.Equal(r.CanaryPrefixes, []string{"web-1"}) }},
		{"approval auto", map[string]string{"FleetName": "a", "Approval": "Auto"}, "", func(r Request) bool { return !r.Approval }},
		{"waves zero", map[string]string{"FleetName": "a", "Waves": "0"}, "Waves=\"0\" must be a whole number", nil},
		{"waves text", map[string]string{"FleetName": "a", "Waves": "two"}, "Waves=\"two\" must be a whole number", nil},
		{"waves too many", map[string]string{"FleetName": "a", "Waves": "1001"}, "1 to 1000", nil},
		{"approval typo", map[string]string{"FleetName": "a", "Approval": "Manaul"}, "must be Manual", nil},
		{"empty canary", map[string]string{"FleetName": "a", "Canary": " / "}, "names no fleet", nil},
		{"bad canary name", map[string]string{"FleetName": "a", "Canary": "a b"}, "cannot be fleet names", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, ok, err := ParseRequest(tt.tags, keys)
			if !ok {
				t.Fatal("not a request")
			}
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.check != nil && !tt.check(req):
				t.Errorf("request %+v", req)
			}
		})
	}
}

func TestPlanner_AssignWaves(t *testing.T) {
	p := testPolicy().Planner
	steps := func(names ...string) []Step {
		out := make([]Step, len(names))
		for i, n := range names {
			out[i] = Step{Fleet: n}
		}
		return out
	}
	tests := []struct {
		name     string
		req      Request
		size     int
		want     map[string]int
		problems string
	}{
		{"one wave", Request{}, 0, map[string]int{"a": 1, "b": 1, "c": 1}, ""},
		{"canary then the rest", Request{CanaryFleets: []string{"b"}}, 0, map[string]int{"a": 2, "b": 1, "c": 2}, ""},
		{"canary then waves of 1", Request{CanaryFleets: []string{"b"}, WaveSize: 1}, 0, map[string]int{"a": 2, "b": 1, "c": 3}, ""},
		{"config size without tags: the recipe's one wave", Request{}, 2, map[string]int{"a": 1, "b": 1, "c": 1}, ""},
		{"config size after a canary", Request{CanaryFleets: []string{"a"}}, 1, map[string]int{"a": 1, "b": 2, "c": 3}, ""},
		{"tag wins over config", Request{WaveSize: 1}, 2, map[string]int{"a": 1, "b": 2, "c": 3}, ""},
		{"canary prefix", Request{CanaryPrefixes: []string{"c"}}, 0, map[string]int{"a": 2, "b": 2, "c": 1}, ""},
		{"canary not requested", Request{CanaryFleets: []string{"z"}}, 0, nil, `canary fleet "z" is not among`},
		{"canary prefix selects none", Request{CanaryPrefixes: []string{"z"}}, 0, nil, "selects none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.WaveSize = tt.size
			s := steps("a", "b", "c")
			problems := strings.Join(p.assignWaves(tt.req, s), "; ")
			if tt.problems != "" {
				if !strings.Contains(problems, tt.problems) {
					t.Fatalf("problems %q, want %q", problems, tt.problems)
				}
				return
			}
			got := map[string]int{}
			for _, st := range s {
				got[st.Fleet] = st.Wave
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("waves (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthProblems(t *testing.T) {
	img := "arn:img-2"
	r := Rollout{ImageARN: img, Steps: []Step{{Fleet: "a", Wave: 1, State: StepDone, Drain: true, SavedMin: 2, SavedMax: 4}}}
	good := Fleet{Name: "a", State: "RUNNING", ImageARN: img, Desired: 2, Running: 2}
	tests := []struct {
		name   string
		step   func(*Step)
		fleet  func(*Fleet)
		target Capacity
		check  error
		want   []string
	}{
		{"healthy", nil, nil, Capacity{2, 4}, nil, nil},
		{"old image", nil, func(f *Fleet) { f.ImageARN = "arn:img-1" }, Capacity{2, 4}, nil, []string{"runs arn:img-1"}},
		{"stopped", nil, func(f *Fleet) { f.State = "STOPPED" }, Capacity{2, 4}, nil, []string{"STOPPED, not RUNNING"}},
		{"fleet errors", nil, func(f *Fleet) { f.Errors = []string{"INTERNAL_SERVICE_ERROR: boom"} }, Capacity{2, 4}, nil, []string{"reports INTERNAL_SERVICE_ERROR"}},
		{"short of instances", nil, func(f *Fleet) { f.Running = 1 }, Capacity{2, 4}, nil, []string{"1 of its 2 desired"}},
		{"capacity not back", nil, nil, Capacity{}, nil, []string{"Min/Max is 0/0, not the 2/4"}},
		{"check url", nil, nil, Capacity{2, 4}, errors.New("503"), []string{"health check failed: 503"}},
		{"failed update", func(s *Step) { s.State, s.Message = StepFailed, "denied" }, nil, Capacity{2, 4}, nil, []string{"update failed: denied"}},
		{"cancelled is not checked", func(s *Step) { s.State = StepCancelled }, func(f *Fleet) { f.State = "STOPPED" }, Capacity{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := r
			rr.Steps = slices.Clone(r.Steps)
			if tt.step != nil {
				tt.step(&rr.Steps[0])
			}
			f := good
			if tt.fleet != nil {
				tt.fleet(&f)
			}
			h := WaveHealth{Fleets: map[string]Fleet{"a": f}, Targets: map[string]Target{"a": {Capacity: tt.target}}, Checks: map[string]error{"a": tt.check}}
			got := HealthProblems(rr, 1, h)["a"]
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %q, want %q", got[i], tt.want[i])
				}
			}
		})
	}
}

// progressive is a running canary rollout whose canary wave finished.
func progressive(now time.Time) Rollout {
	return Rollout{ID: 7, ImageName: "img-2", ImageARN: "arn:img-2", State: Running, Canary: "a", Waves: 2, Wave: 1, WaveAt: now.Add(-time.Hour),
		CreatedAt: now.Add(-2 * time.Hour), Steps: []Step{
			{RolloutID: 7, Fleet: "a", Wave: 1, State: StepDone, PreviousImageARN: "arn:img-1", Drain: true, SavedMin: 2, SavedMax: 4},
			{RolloutID: 7, Fleet: "b", Wave: 2, State: StepWaiting},
		}}
}

func TestPolicy_Gate(t *testing.T) {
	now := time.Date(2026, 11, 29, 2, 30, 0, 0, time.UTC)
	p := testPolicy()
	p.Waves = WaveSettings{CanaryBake: 10 * time.Minute, HealthTimeout: 30 * time.Minute}
	p.CheckEvery = 10 * time.Second
	healthy := map[string][]string{}
	sick := map[string][]string{"a": {"0 of its 2 desired instances are running"}}
	tests := []struct {
		name       string
		gate       Gate
		since      time.Duration // before now
		approval   bool
		approved   bool
		noRollback bool
		health     map[string][]string
		wantGate   Gate
		wantWave   int
		wantState  State
		wantStatus string
	}{
		{"healthy canary bakes", GateNone, 0, false, false, false, healthy, GateBaking, 1, Running, ""},
		{"sick canary keeps checking", GateChecking, 5 * time.Minute, false, false, false, sick, GateChecking, 1, Running, ""},
		{"sick past the timeout rolls back", GateChecking, 31 * time.Minute, false, false, false, sick, GateRollingBack, 1, Running, ""},
		{"sick past the timeout halts with rollback off", GateChecking, 31 * time.Minute, false, false, true, sick, GateHalted, 1, Running, "Failed/"},
		{"baked and healthy releases wave 2", GateBaking, 11 * time.Minute, false, false, false, healthy, GateNone, 2, Running, "Wave/2/2"},
		{"baked but sick rechecks", GateBaking, 11 * time.Minute, false, false, false, sick, GateRechecking, 1, Running, ""},
		{"baked and healthy waits for approval", GateBaking, 11 * time.Minute, true, false, false, healthy, GateApproval, 1, Running, "AwaitingApproval/"},
		{"pre-approved goes on", GateBaking, 11 * time.Minute, true, true, false, healthy, GateNone, 2, Running, "Wave/2/2"},
		{"approved releases", GateApproval, time.Hour, true, true, false, nil, GateNone, 2, Running, "Wave/2/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Waves.NoRollback = tt.noRollback
			r := progressive(now)
			r.Gate, r.GateSince, r.Approval, r.Approved = tt.gate, now.Add(-tt.since), tt.approval, tt.approved
			if tt.gate == GateBaking {
				r.NextAt = now
			}
			in := RolloutInput{Now: now, Rollout: r, HealthRead: true, Health: tt.health, FleetTagsRead: true}
			cmd := p.DecideRollout(in)
			if cmd.Change == nil || cmd.Change.Update == nil {
				t.Fatalf("no update: %+v", cmd)
			}
			got := cmd.Change.Update
			if got.Gate != tt.wantGate || got.Wave != tt.wantWave || got.State != tt.wantState {
				t.Errorf("gate %q wave %d state %s, want %q %d %s (reason %q)", got.Gate, got.Wave, got.State, tt.wantGate, tt.wantWave, tt.wantState, got.Reason)
			}
			if status := cmd.Action.Tag[p.Keys.Status]; !strings.HasPrefix(status, tt.wantStatus) || (tt.wantStatus == "") != (status == "") {
				t.Errorf("Status tag %q, want %q…", status, tt.wantStatus)
			}
			if r.Steps[1].State != StepWaiting || r.Gate != tt.gate {
				t.Error("the decision changed its input")
			}
			if tt.wantGate == GateRollingBack {
				a := got.Steps[0]
				if !a.RollingBack || a.State != StepWaiting || got.Steps[1].State != StepCancelled {
					t.Errorf("after the failed gate: steps %+v, want the canary rolling back and wave 2 cancelled", got.Steps)
				}
			}
		})
	}
}

func TestPolicy_DecideRequest(t *testing.T) {
	now := time.Date(2026, 11, 29, 2, 30, 0, 0, time.UTC)
	p := testPolicy()
	ended := progressive(now)
	ended.State = Succeeded
	pending := progressive(now)
	pending.State, pending.Steps[0].State = Pending, StepWaiting
	awaiting := progressive(now)
	awaiting.Approval, awaiting.Gate = true, GateApproval
	plain := progressive(now)
	plain.Canary, plain.Waves = "", 1
	tests := []struct {
		name     string
		r        Rollout
		kind     RequestKind
		conflict string
		check    func(*Rollout) bool
	}{
		{"approve awaiting", awaiting, RequestApprove, "", func(r *Rollout) bool { return r.Approved && r.ApprovedBy == "api" }},
		{"approve without approval", plain, RequestApprove, "nothing to approve", nil},
		{"approve ended", ended, RequestApprove, "has ended", nil},
		{"cancel pending", pending, RequestCancel, "", func(r *Rollout) bool { return r.State == Cancelled && !r.TagCleared }},
		{"cancel running", awaiting, RequestCancel, "", func(r *Rollout) bool {
			return r.Gate == GateCancelling && r.Steps[1].State == StepCancelled && r.Steps[0].State == StepDone
		}},
		{"rollback pending", pending, RequestRollback, "has not started", nil},
		{"rollback running", awaiting, RequestRollback, "", func(r *Rollout) bool {
			return r.Gate == GateRollingBack && r.Steps[0].RollingBack && r.Steps[1].State == StepCancelled
		}},
		{"rollback ended", ended, RequestRollback, "", func(r *Rollout) bool { return r.State == Running && r.Gate == GateRollingBack }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := p.DecideRequest(tt.r, tt.kind, "api", now)
			if tt.conflict != "" {
				if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tt.conflict) {
					t.Fatalf("err = %v, want a conflict saying %q", err, tt.conflict)
				}
				if cmd.Change != nil {
					t.Error("a refused request changes something")
				}
				return
			}
			if err != nil || cmd.Change == nil || cmd.Change.Update == nil {
				t.Fatalf("cmd %+v, err %v", cmd, err)
			}
			if !tt.check(cmd.Change.Update) {
				t.Errorf("rollout after the request: %+v", cmd.Change.Update)
			}
		})
	}
}

func TestPlanWaves(t *testing.T) {
	start := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	r := Rollout{State: Pending, Canary: "a", Waves: 3, Wave: 1, Start: start, Steps: []Step{
		{Fleet: "a", Wave: 1, State: StepWaiting}, {Fleet: "b", Wave: 2, State: StepWaiting}, {Fleet: "c", Wave: 3, State: StepWaiting}}}
	ws := WaveSettings{CanaryBake: 10 * time.Minute, Bake: 5 * time.Minute, HealthTimeout: 30 * time.Minute}
	got := PlanWaves(r, ws)
	if len(got) != 3 || !got[0].Canary || got[1].Canary {
		t.Fatalf("plan %+v", got)
	}
	wantStarts := []time.Time{start, start.Add(10 * time.Minute), start.Add(15 * time.Minute)}
	for i, w := range got {
		if !w.ExpectedStart.Equal(wantStarts[i]) || w.State != "waiting" || len(w.Fleets) != 1 {
			t.Errorf("wave %d: %+v, want expected start %s, waiting", w.Wave, w, wantStarts[i])
		}
	}
	r.Approval = true
	if got := PlanWaves(r, ws); !got[1].ExpectedStart.IsZero() || !strings.Contains(got[0].Gate, "approval") {
		t.Errorf("with approval: %+v, want wave 2 without an expected start and the canary's gate naming the approval", got)
	}
}
