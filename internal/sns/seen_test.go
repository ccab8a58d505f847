package sns

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMemorySeen(t *testing.T) {
	type op struct {
		forget bool
		id     string
		at     time.Duration // message time, relative to now
		clock  time.Duration // the clock, relative to now
		want   bool          // SeenBefore's answer
	}
	tests := []struct {
		name string
		max  int
		age  time.Duration
		ops  []op
		len  int
	}{
		{name: "record and report", ops: []op{
			{id: "a", want: false},
			{id: "a", want: true},
			{id: "b", want: false},
			{id: "a", want: true},
			{id: "b", want: true},
		}, len: 2},
		{name: "forget", ops: []op{
			{id: "a", want: false},
			{forget: true, id: "a"},
			{id: "a", want: false},
			{id: "a", want: true},
			{forget: true, id: "never seen"},
		}, len: 1},
		{name: "bounded by count, least recently seen first", max: 2, ops: []op{
			{id: "a", want: false},
			{id: "b", want: false},
			{id: "a", want: true}, // a is now the most recent
			{id: "c", want: false},
			{id: "a", want: true},
			{id: "b", want: false}, // b was dropped
		}, len: 2},
		{name: "bounded by age", age: time.Hour, ops: []op{
			{id: "a", at: -30 * time.Minute, want: false},
			{id: "a", at: -30 * time.Minute, clock: 29 * time.Minute, want: true},
			{id: "a", at: -30 * time.Minute, clock: 31 * time.Minute, want: false}, // expired, so recorded anew
			{id: "b", at: 31 * time.Minute, clock: 31 * time.Minute, want: false},
			{id: "c", at: 2 * time.Hour, clock: 2 * time.Hour, want: false}, // a and b expire
		}, len: 1},
		{name: "default age covers the freshness window", ops: []op{
			{id: "a", at: MaxClockSkew, want: false},
			{id: "a", at: MaxClockSkew, clock: MaxClockSkew + DefaultMaxAge, want: true},
		}, len: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clockAt time.Duration
			s := &MemorySeen{Max: tt.max, MaxAge: tt.age, Now: func() time.Time { return now.Add(clockAt) }}
			for i, o := range tt.ops {
				clockAt = o.clock
				if o.forget {
					if err := s.Forget(context.Background(), o.id); err != nil {
						t.Fatal(err)
					}
					continue
				}
				got, err := s.SeenBefore(context.Background(), o.id, now.Add(o.at))
				if err != nil {
					t.Fatal(err)
				}
				if got != o.want {
					t.Errorf("op %d: SeenBefore(%q) = %v, want %v", i, o.id, got, o.want)
				}
			}
			if s.Len() != tt.len {
				t.Errorf("Len = %d, want %d", s.Len(), tt.len)
			}
		})
	}
}

func TestMemorySeen_defaultMax(t *testing.T) {
	s := &MemorySeen{Now: clock}
	for i := range DefaultSeenMax + 10 {
		if dup, _ := s.SeenBefore(context.Background(), fmt.Sprint(i), now); dup {
			t.Fatalf("%d reported as seen", i)
		}
	}
	if diff := cmp.Diff(DefaultSeenMax, s.Len()); diff != "" {
		t.Errorf("Len (-want +got):\n%s", diff)
	}
}
