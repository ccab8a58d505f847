package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/internal/history"
	"github.com/deskpilot/deskpilot/internal/notice"
	"github.com/deskpilot/deskpilot/internal/reset"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// BenchmarkApply measures one typical controller write: a step moves on, with an audit event
// and a notice for one sender, committed durably (synchronous=FULL).
func BenchmarkApply(b *testing.B) {
	s := openTest(b)
	r := create(b, s, fullRollout("img"))
	ctx := context.Background()
	st := r.Steps[1]
	i := 0
	for b.Loop() {
		i++
		st.Attempts = i
		st.NextAt = t0.Add(time.Duration(i) * time.Second)
		c := &rollout.Change{
			Steps:  []rollout.Step{st},
			Events: []rollout.Event{{At: st.NextAt, RolloutID: r.ID, Fleet: st.Fleet, Kind: history.Step, Reason: "2 sessions left"}},
			Deliveries: []rollout.Delivery{{Sender: "mail", Notice: notice.Notice{
				ID: fmt.Sprintf("rollout/%d/step/%d", r.ID, i), Kind: "rollout.step", Subject: "Fleet b is draining",
				Fields: []notice.Field{{Name: "Image", Value: r.ImageName}, {Name: "Fleet", Value: st.Fleet}},
				Time:   st.NextAt,
			}}},
		}
		if err := s.Apply(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActiveRollouts measures the controller's read of its work: 20 active rollouts of
// 5 steps among 200.
func BenchmarkActiveRollouts(b *testing.B) {
	benchActiveRollouts(b, func(i int) bool { return i%10 == 0 }, 3, 20)
}

// BenchmarkActiveRolloutsIdle measures the read every rollout pass makes when nothing is due
// (the daemon's steady state): no active rollout among 200 finished ones.
func BenchmarkActiveRolloutsIdle(b *testing.B) {
	benchActiveRollouts(b, func(int) bool { return false }, 0, 0)
}

// benchActiveRollouts times ActiveRollouts over 200 rollouts, the i-th active when active(i)
// says so, each with extraSteps waiting steps more than fullRollout's; want are active.
func benchActiveRollouts(b *testing.B, active func(i int) bool, extraSteps, want int) {
	s := openTest(b)
	for i := range 200 {
		r := fullRollout(fmt.Sprint("img", i))
		if !active(i) {
			r.State = rollout.Succeeded
		}
		for f := range extraSteps {
			r.Steps = append(r.Steps, rollout.Step{Fleet: fmt.Sprint("fleet", f), State: rollout.StepWaiting})
		}
		create(b, s, r)
	}
	ctx := context.Background()
	for b.Loop() {
		rs, err := s.ActiveRollouts(ctx)
		if err != nil || len(rs) != want {
			b.Fatal(len(rs), err)
		}
	}
}

// trackers10k returns 10,000 trackers with every field set.
func trackers10k() []reset.Tracked {
	ts := make([]reset.Tracked, 10_000)
	for i := range ts {
		ts[i] = fullTracked(fmt.Sprintf("ws-%05d", i))
	}
	return ts
}

// BenchmarkSaveResets10k measures one SaveResets writing 10,000 trackers with every field set:
// inserting new ones, and replacing existing ones (the controller's steady state).
func BenchmarkSaveResets10k(b *testing.B) {
	ctx := context.Background()
	b.Run("insert", func(b *testing.B) {
		s := openTest(b)
		ts := trackers10k()
		i := 0
		for b.Loop() {
			i++
			for j := range ts {
				ts[j].ID = fmt.Sprintf("ws-%d-%05d", i, j)
			}
			if err := s.SaveResets(ctx, ts, nil, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ts)), "ns/tracker")
	})
	b.Run("update", func(b *testing.B) {
		s := openTest(b)
		ts := trackers10k()
		if err := s.SaveResets(ctx, ts, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			for j := range ts {
				ts[j].Attempts = i
			}
			if err := s.SaveResets(ctx, ts, nil, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ts)), "ns/tracker")
	})
}

// BenchmarkTrackers10k measures reading 10,000 trackers.
func BenchmarkTrackers10k(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	if err := s.SaveResets(ctx, trackers10k(), nil, nil, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := s.Trackers(ctx)
		if err != nil || len(got) != 10_000 {
			b.Fatal(len(got), err)
		}
	}
}
