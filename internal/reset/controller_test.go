package reset

import (
	"testing"
	"time"
)

func TestParseWatermark(t *testing.T) {
	tests := []struct {
		raw  string
		want time.Time
	}{
		{"", time.Time{}},
		{"not a time", time.Time{}},
		{"2026-11-23T17:00:00Z", t0},
		{"2026-11-23T17:00:00.123Z", t0.Add(123 * time.Millisecond)},
		// Written with nanoseconds: the period it ended held the records of 17:00:00.123.
		{"2026-11-23T17:00:00.123456789Z", t0.Add(124 * time.Millisecond)},
		{"2026-11-23T18:00:00.000000001+01:00", t0.Add(time.Millisecond)},
	}
	for _, tt := range tests {
		if got := parseWatermark(tt.raw); !got.Equal(tt.want) {
			t.Errorf("parseWatermark(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}
