package rollout

import (
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/fault"
	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/window"
)

func testPolicy() Policy {
	keys := DefaultTagKeys()
	w := window.MustParse("sun:02:00-sun:05:00")
	return Policy{
		Keys:    keys,
		Planner: Planner{Keys: keys, Margin: 30 * time.Minute, WindowFor: func(string, map[string]string) (window.Window, error) { return w, nil }},
		Account: "123456789012", Region: "eu-central-1", Senders: []string{"mail"},
		ZoneOf: func(string) *time.Location { return time.UTC },
	}
}

func TestPolicy_DecideImage(t *testing.T) {
	sat := time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)
	start := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	fleets := map[string]Fleet{
		"fleet-a": {Name: "fleet-a", ARN: "arn:fa", State: "RUNNING", ImageARN: "arn:img-1"},
		"fleet-b": {Name: "fleet-b", ARN: "arn:fb", State: "RUNNING", ImageARN: "arn:img-1"},
		"kiosk":   {Name: "kiosk", ARN: "arn:k", State: "RUNNING", Type: "ELASTIC"},
	}
	img := func(tags map[string]string) Image {
		return Image{Name: "img-2", ARN: "arn:img-2", State: "AVAILABLE", Tags: tags}
	}
	pending := Rollout{ID: 4, ImageName: "img-2", ImageARN: "arn:img-2", FleetTag: "fleet-a", State: Pending, Start: start, CreatedAt: sat.Add(-time.Hour),
		Steps: []Step{{RolloutID: 4, Fleet: "fleet-a", State: StepWaiting, WindowStart: start}}}
	running := pending
	running.State = Running
	running.Steps = []Step{{RolloutID: 4, Fleet: "fleet-a", State: StepDraining}, {RolloutID: 4, Fleet: "fleet-b", State: StepWaiting}}
	read := func(in ImageInput) ImageInput {
		in.FleetsRead, in.Fleets, in.FleetTags = true, fleets, map[string]map[string]string{}
		return in
	}
	tests := []struct {
		name  string
		in    ImageInput
		check func(*testing.T, Command)
	}{
		{"new request asks for its fleets", ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "fleet-a/fleet-b"})}, func(t *testing.T, c Command) {
			if !c.NeedFleets || strings.Join(c.FleetNames, ",") != "fleet-a,fleet-b" || c.Change != nil {
				t.Errorf("got %+v; want a request for fleet-a and fleet-b only", c)
			}
		}},
		{"prefix asks for every fleet", ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "prefix:fleet-"})}, func(t *testing.T, c Command) {
			if !c.NeedFleets || c.FleetNames != nil {
				t.Errorf("got %+v; want every fleet", c)
			}
		}},
		{"then the tags of the fleets it selects", ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "prefix:fleet-"}), FleetsRead: true, Fleets: fleets}, func(t *testing.T, c Command) {
			if !c.NeedFleetTags || strings.Join(c.FleetNames, ",") != "fleet-a,fleet-b" {
				t.Errorf("got %+v; want the tags of fleet-a and fleet-b", c)
			}
		}},
		{"plan: rollout, event and notice in one change, then the Pending status", read(ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True"})}), func(t *testing.T, c Command) {
			ch := c.Change
			if ch == nil || ch.Create == nil || ch.Create.State != Pending || len(ch.Create.Steps) != 2 || !ch.Create.ScaleImmediately {
				t.Fatalf("got %+v; want a pending rollout of two steps", c)
			}
			if ch.Create.Account != "123456789012" || ch.Create.Region != "eu-central-1" {
				t.Errorf("rollout in %q/%q", ch.Create.Account, ch.Create.Region)
			}
			if len(ch.Deliveries) != 1 || !strings.HasSuffix(ch.Deliveries[0].Notice.ID, "/pending") || len(ch.Events) != 1 || ch.Events[0].Kind != history.Planned {
				t.Errorf("deliveries %+v events %+v; want the pending notice and a planned event with the rollout", ch.Deliveries, ch.Events)
			}
			if c.ActFirst || c.Action.Tag["Status"] != "Pending/2026-11-29T02:00:00Z" {
				t.Errorf("action %+v first=%v; want Status=Pending/<start> after the commit", c.Action, c.ActFirst)
			}
		}},
		{"unknown and elastic fleets refuse everything", read(ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "fleet-a/nope/kiosk", "Status": "Pending/x"})}), func(t *testing.T, c Command) {
			if c.Change == nil || c.Change.Create == nil || c.Change.Create.State != Refused {
				t.Fatalf("got %+v; want a refusal", c)
			}
			if r := c.Change.Create.Reason; !strings.Contains(r, `"nope" does not exist`) || !strings.Contains(r, "ELASTIC") {
				t.Errorf("reason %q lacks a problem", r)
			}
			if len(c.Change.Deliveries) != 1 || len(c.Action.Untag) != 1 {
				t.Errorf("deliveries %d, action %+v; want the refusal notice and the Pending status removed", len(c.Change.Deliveries), c.Action)
			}
		}},
		{"unmatched prefix refuses", read(ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "prefix:flet-"})}), func(t *testing.T, c Command) {
			if c.Change == nil || c.Change.Create.State != Refused || !strings.Contains(c.Change.Create.Reason, `"flet-"`) {
				t.Errorf("got %+v; want refused naming the prefix", c.Change)
			}
		}},
		{"changed tag supersedes the pending plan in the same change", read(ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "fleet-b"}), Latest: pending, HasLatest: true}), func(t *testing.T, c Command) {
			ch := c.Change
			if ch == nil || ch.Update == nil || ch.Update.State != Superseded || ch.Create == nil || ch.Create.FleetTag != "fleet-b" {
				t.Fatalf("got %+v; want the old plan superseded and a new one created", c.Change)
			}
			if len(ch.Steps) != 1 || ch.Steps[0].State != StepCancelled || ch.Steps[0].RolloutID != 4 {
				t.Errorf("steps %+v; want the old plan's waiting step cancelled", ch.Steps)
			}
			if ch.Deliveries[0].Notice.Kind != "rollout.replanned" {
				t.Errorf("notice kind %q; want rollout.replanned", ch.Deliveries[0].Notice.Kind)
			}
		}},
		{"same request, Status lost: repaired, nothing written", ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "fleet-a"}), Latest: pending, HasLatest: true}, func(t *testing.T, c Command) {
			if c.Change != nil || c.Action.Tag["Status"] != "Pending/2026-11-29T02:00:00Z" {
				t.Errorf("got %+v; want only the Status tagged again", c)
			}
		}},
		{"same request, Status right: nothing", ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "fleet-a", "Status": "Pending/2026-11-29T02:00:00Z"}), Latest: pending, HasLatest: true}, func(t *testing.T, c Command) {
			if c.Change != nil || !c.Action.None() {
				t.Errorf("got %+v; want nothing", c)
			}
		}},
		{"tag removed before the window: cancelled, Pending status removed", ImageInput{Now: sat, Image: img(map[string]string{"Status": "Pending/2026-11-29T02:00:00Z"}), Latest: pending, HasLatest: true}, func(t *testing.T, c Command) {
			if c.Change == nil || c.Change.Update.State != Cancelled || !c.Change.Update.TagCleared || len(c.Change.Deliveries) != 1 {
				t.Fatalf("got %+v; want cancelled with its notice", c.Change)
			}
			if len(c.Action.Untag) != 1 || c.ActFirst {
				t.Errorf("action %+v; want the status removed after the commit", c.Action)
			}
		}},
		{"tag removed while running: only waiting fleets cancelled", ImageInput{Now: sat, Image: img(nil), Latest: running, HasLatest: true}, func(t *testing.T, c Command) {
			if c.Change == nil || c.Change.Update != nil || len(c.Change.Steps) != 1 || c.Change.Steps[0].Fleet != "fleet-b" {
				t.Errorf("got %+v; want fleet-b cancelled and the rollout left running", c.Change)
			}
		}},
		{"changed tag while running: wait for the end", ImageInput{Now: sat, Image: img(map[string]string{"FleetName": "fleet-b"}), Latest: running, HasLatest: true}, func(t *testing.T, c Command) {
			if c.Change != nil || !c.Action.None() || c.NeedFleets {
				t.Errorf("got %+v; want nothing until the running rollout ends", c)
			}
		}},
	}
	p := testPolicy()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, p.DecideImage(tc.in)) })
	}
}

func TestPolicy_DecideImage_samePlanInstantGetsDistinctNoticeIDs(t *testing.T) {
	p := testPolicy()
	now := time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)
	in := ImageInput{Now: now, Image: Image{Name: "img-2", ARN: "arn:img-2", State: "AVAILABLE", Tags: map[string]string{"FleetName": "fleet-a"}},
		FleetsRead: true, Fleets: map[string]Fleet{"fleet-a": {Name: "fleet-a", State: "RUNNING"}, "fleet-b": {Name: "fleet-b", State: "RUNNING"}}, FleetTags: map[string]map[string]string{}}
	first := p.DecideImage(in).Change.Create
	in.Latest, in.HasLatest = *first, true
	in.Latest.ID = 1
	in.Image.Tags = map[string]string{"FleetName": "fleet-b"}
	second := p.DecideImage(in).Change
	if noticeID(*first, "pending") == second.Deliveries[0].Notice.ID {
		t.Errorf("two plans in one instant share the notice id %s", second.Deliveries[0].Notice.ID)
	}
}

func TestPolicy_DecideRollout(t *testing.T) {
	now := time.Date(2026, 11, 29, 2, 30, 0, 0, time.UTC)
	base := Rollout{ID: 9, ImageName: "img-2", ImageARN: "arn:img-2", FleetTag: "fleet-a/fleet-b", ScaleImmediately: true, State: Running}
	with := func(state State, steps ...StepState) Rollout {
		r := base
		r.State = state
		for i, s := range steps {
			r.Steps = append(r.Steps, Step{RolloutID: 9, Fleet: string(rune('a' + i)), State: s})
		}
		return r
	}
	img := Image{Name: "img-2", ARN: "arn:img-2", Tags: map[string]string{"FleetName": "fleet-a/fleet-b", "ScaleImmediately": "True", "Status": "Pending/x"}}
	tests := []struct {
		name      string
		in        RolloutInput
		wantState State
		check     func(*testing.T, Command)
	}{
		{"pending with a started step starts", RolloutInput{Rollout: with(Pending, StepApplying, StepWaiting)}, Running, func(t *testing.T, c Command) {
			if len(c.Change.Deliveries) != 1 || c.Change.Events[0].Kind != history.Started {
				t.Errorf("got %+v; want the started notice and event", c.Change)
			}
		}},
		{"running with work left: nothing", RolloutInput{Rollout: with(Running, StepDone, StepDraining)}, "", nil},
		{"all final asks for the image", RolloutInput{Rollout: with(Running, StepDone, StepSkipped)}, "", func(t *testing.T, c Command) {
			if !c.NeedImage {
				t.Error("did not ask for the image")
			}
		}},
		{"success clears the request, tags first", RolloutInput{Rollout: with(Running, StepDone, StepSkipped), ImageRead: true, Image: img, ImageFound: true}, Succeeded, func(t *testing.T, c Command) {
			if !c.ActFirst || strings.Join(c.Action.Untag, ",") != "Status,FleetName,ScaleImmediately" {
				t.Errorf("action %+v first=%v; want the three tags removed before the commit", c.Action, c.ActFirst)
			}
		}},
		{"success with a changed request keeps it", RolloutInput{Rollout: with(Running, StepDone), ImageRead: true, ImageFound: true,
			Image: Image{ARN: "arn:img-2", Tags: map[string]string{"FleetName": "fleet-c", "Status": "Pending/x"}}}, Succeeded, func(t *testing.T, c Command) {
			if strings.Join(c.Action.Untag, ",") != "Status" {
				t.Errorf("untag %v; want only Status", c.Action.Untag)
			}
		}},
		{"a failed fleet marks the image Failed", RolloutInput{Now: now, Rollout: with(Running, StepDone, StepFailed), ImageRead: true, Image: img, ImageFound: true}, Failed, func(t *testing.T, c Command) {
			if c.Action.Tag["Status"] != StatusFailed(now) || c.Change.Update.Reason != "1 of 2 fleets failed" {
				t.Errorf("got %+v / %q", c.Action, c.Change.Update.Reason)
			}
		}},
		{"image gone: the end is still recorded", RolloutInput{Rollout: with(Running, StepDone), ImageRead: true}, Succeeded, func(t *testing.T, c Command) {
			if !c.Action.None() {
				t.Errorf("action %+v on a missing image", c.Action)
			}
		}},
		{"every fleet cancelled: superseded", RolloutInput{Rollout: with(Running, StepCancelled), ImageRead: true, Image: img, ImageFound: true}, Superseded, nil},
	}
	p := testPolicy()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := p.DecideRollout(tc.in)
			got := State("")
			if c.Change != nil && c.Change.Update != nil {
				got = c.Change.Update.State
			}
			if got != tc.wantState {
				t.Errorf("state %q, want %q", got, tc.wantState)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	st := func(id int64, fleet string, s StepState) Step {
		return Step{RolloutID: id, Fleet: fleet, State: s, WindowStart: now.Add(-time.Minute)}
	}
	active := []Rollout{
		{ID: 1, Steps: []Step{st(1, "a", StepDraining), st(1, "b", StepWaiting), st(1, "c", StepWaiting)}},
		{ID: 2, Steps: []Step{st(2, "a", StepWaiting), st(2, "d", StepWaiting), st(2, "e", StepWaiting)}},
	}
	late := Rollout{ID: 3, Steps: []Step{{RolloutID: 3, Fleet: "f", State: StepWaiting, WindowStart: now.Add(time.Hour)}}}
	due := []StepKey{{2, "e"}, {1, "b"}, {2, "a"}, {1, "c"}, {2, "d"}, {3, "f"}}
	busy, holder := Admit(append(active, late), due, now, 3)
	if holder["a"] != 1 {
		t.Errorf("holder of a = %d, want rollout 1", holder["a"])
	}
	// Started: a (1). Slots left: 2, oldest rollout first: 1/b, 1/c; 2/a is held; 2/d, 2/e wait
	// for a slot; 3/f is not in its window, so it takes no slot.
	want := map[StepKey]string{{2, "a"}: "rollout #1", {2, "d"}: "max_parallel", {2, "e"}: "max_parallel"}
	if len(busy) != len(want) {
		t.Errorf("busy = %v, want %d entries", busy, len(want))
	}
	for k, sub := range want {
		if !strings.Contains(busy[k], sub) {
			t.Errorf("busy[%v] = %q, want it to mention %q", k, busy[k], sub)
		}
	}
}

func TestOnFailure(t *testing.T) {
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	p := Params{PollInterval: 10 * time.Second, DrainPollInterval: 5 * time.Second, DrainTimeout: time.Hour}
	restoring := Step{Fleet: "f", State: StepRestoring, Drain: true, SavedMin: 2, SavedMax: 5, DrainStartedAt: now.Add(-10 * time.Minute)}
	tests := []struct {
		name     string
		step     Step
		action   Action
		class    fault.Class
		want     StepState
		wantIn   time.Duration
		wantEsc  Escalation
		moreTest func(*testing.T, Failure)
	}{
		{"update denied fails the step", Step{State: StepApplying}, ActUpdateImage, fault.Denied, StepFailed, 0, EscalateNone, nil},
		{"update throttled retries later", Step{State: StepApplying}, ActUpdateImage, fault.Throttled, StepApplying, 40 * time.Second, EscalateNone, nil},
		{"scale-to-zero invalid restores", Step{State: StepDraining, SavedMin: 2, SavedMax: 5}, ActScaleToZero, fault.Invalid, StepRestoring, 0, EscalateNone, nil},
		{"restore transient retries within a second", restoring, ActRestore, fault.Transient, StepRestoring, time.Second, EscalateNone, nil},
		{"restore denied is never given up", restoring, ActRestore, fault.Denied, StepRestoring, time.Second, EscalateNone, nil},
		{"third restore failure escalates", func() Step { s := restoring; s.Attempts = 2; return s }(), ActRestore, fault.Denied, StepRestoring, 4 * time.Second, EscalateOpen, func(t *testing.T, f Failure) {
			if !f.Next.EscalatedAt.Equal(now) {
				t.Errorf("EscalatedAt %v", f.Next.EscalatedAt)
			}
		}},
		{"at 0/0 past the drain timeout escalates at once", func() Step { s := restoring; s.DrainStartedAt = now.Add(-2 * time.Hour); return s }(), ActRestore, fault.Transient, StepRestoring, time.Second, EscalateOpen, nil},
		{"open incident: no second notice within the hour", func() Step {
			s := restoring
			s.Attempts, s.EscalatedAt, s.RemindedAt = 5, now.Add(-30*time.Minute), now.Add(-30*time.Minute)
			return s
		}(), ActRestore, fault.Transient, StepRestoring, 32 * time.Second, EscalateNone, nil},
		{"open incident: a reminder after an hour", func() Step {
			s := restoring
			s.Attempts, s.EscalatedAt, s.RemindedAt = 9, now.Add(-2*time.Hour), now.Add(-time.Hour)
			return s
		}(), ActRestore, fault.Transient, StepRestoring, time.Minute, EscalateRemind, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decision{Action: tc.action, Next: tc.step}
			f := OnFailure(tc.step, d, tc.class, "boom", now, p)
			if f.Next.State != tc.want || f.Next.NextAt.Sub(now) != tc.wantIn || f.Escalate != tc.wantEsc {
				t.Errorf("got %s in %s, escalation %d; want %s in %s, %d", f.Next.State, f.Next.NextAt.Sub(now), f.Escalate, tc.want, tc.wantIn, tc.wantEsc)
			}
			if tc.moreTest != nil {
				tc.moreTest(t, f)
			}
		})
	}
}

func TestResolved(t *testing.T) {
	at := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	open := Step{State: StepRestoring, EscalatedAt: at, RemindedAt: at}
	if n, e := resolved(open, Step{State: StepDone}); e != EscalateResolved || !n.EscalatedAt.IsZero() {
		t.Errorf("done after an incident: %d, %v", e, n.EscalatedAt)
	}
	if _, e := resolved(open, open); e != EscalateNone {
		t.Errorf("still restoring: %d", e)
	}
	if _, e := resolved(Step{State: StepRestoring}, Step{State: StepDone}); e != EscalateNone {
		t.Errorf("done without an incident: %d", e)
	}
}
