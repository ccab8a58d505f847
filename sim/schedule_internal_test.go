package sim

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedule_Next(t *testing.T) {
	utc := time.UTC
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// A Sunday.
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, utc)
	created := now
	tests := []struct {
		name       string
		expr       string
		loc        *time.Location
		start, end time.Time
		after      time.Time
		want       time.Time // zero: no firing
	}{
		{name: "at future", expr: "at(2026-11-22T10:30:00)", loc: utc, after: now, want: time.Date(2026, 11, 22, 10, 30, 0, 0, utc)},
		{name: "at past", expr: "at(2026-11-22T08:00:00)", loc: utc, after: now},
		{name: "at exactly now", expr: "at(2026-11-22T09:00:00)", loc: utc, after: now},
		{name: "at in zone", expr: "at(2026-11-22T10:30:00)", loc: berlin, after: now, want: time.Date(2026, 11, 22, 9, 30, 0, 0, utc)},
		{name: "at before start", expr: "at(2026-11-22T10:30:00)", loc: utc, start: now.Add(2 * time.Hour), after: now},
		{name: "at after end", expr: "at(2026-11-22T10:30:00)", loc: utc, end: now.Add(time.Hour), after: now},
		{name: "rate first", expr: "rate(15 minutes)", loc: utc, after: now, want: now.Add(15 * time.Minute)},
		{name: "rate later", expr: "rate(15 minutes)", loc: utc, after: now.Add(31 * time.Minute), want: now.Add(45 * time.Minute)},
		{name: "rate on a firing", expr: "rate(1 hour)", loc: utc, after: now.Add(time.Hour), want: now.Add(2 * time.Hour)},
		{name: "rate from start", expr: "rate(2 days)", loc: utc, start: now.Add(time.Hour), after: now, want: now.Add(time.Hour)},
		{name: "rate until end", expr: "rate(1 day)", loc: utc, end: now.Add(36 * time.Hour), after: now.Add(24 * time.Hour)},
		{name: "cron daily", expr: "cron(0 18 * * ? *)", loc: utc, after: now, want: time.Date(2026, 11, 22, 18, 0, 0, 0, utc)},
		{name: "cron daily next day", expr: "cron(0 8 * * ? *)", loc: utc, after: now, want: time.Date(2026, 11, 23, 8, 0, 0, 0, utc)},
		{name: "cron weekdays", expr: "cron(30 7 ? * MON-FRI *)", loc: utc, after: now, want: time.Date(2026, 11, 23, 7, 30, 0, 0, utc)},
		{name: "cron weekday numbers", expr: "cron(30 7 ? * 2-6 *)", loc: utc, after: now, want: time.Date(2026, 11, 23, 7, 30, 0, 0, utc)},
		{name: "cron saturday", expr: "cron(0 0 ? * 7 *)", loc: utc, after: now, want: time.Date(2026, 11, 28, 0, 0, 0, 0, utc)},
		{name: "cron list", expr: "cron(0 6,20 * * ? *)", loc: utc, after: now, want: time.Date(2026, 11, 22, 20, 0, 0, 0, utc)},
		{name: "cron step", expr: "cron(*/20 * * * ? *)", loc: utc, after: now.Add(time.Minute), want: now.Add(20 * time.Minute)},
		{name: "cron month day", expr: "cron(0 0 1 JAN ? *)", loc: utc, after: now, want: time.Date(2027, 1, 1, 0, 0, 0, 0, utc)},
		{name: "cron year", expr: "cron(0 12 15 6 ? 2030)", loc: utc, after: now, want: time.Date(2030, 6, 15, 12, 0, 0, 0, utc)},
		{name: "cron past year", expr: "cron(0 12 15 6 ? 2020)", loc: utc, after: now},
		{name: "cron never (31 Feb)", expr: "cron(0 0 31 2 ? *)", loc: utc, after: now},
		{name: "cron in zone", expr: "cron(0 8 * * ? *)", loc: berlin, after: now, want: time.Date(2026, 11, 23, 7, 0, 0, 0, utc)},
		{name: "cron in zone summer", expr: "cron(0 8 * * ? *)", loc: berlin, after: time.Date(2027, 7, 1, 0, 0, 0, 0, utc), want: time.Date(2027, 7, 1, 6, 0, 0, 0, utc)},
		// 02:30 does not exist in Berlin on 2027-03-28 (clocks go from 02:00 to 03:00).
		{name: "cron skipped local time", expr: "cron(30 2 * * ? *)", loc: berlin, after: time.Date(2027, 3, 27, 12, 0, 0, 0, utc), want: time.Date(2027, 3, 29, 0, 30, 0, 0, utc)},
		{name: "cron after start", expr: "cron(0 18 * * ? *)", loc: utc, start: now.Add(48 * time.Hour), after: now, want: time.Date(2026, 11, 24, 18, 0, 0, 0, utc)},
		{name: "cron start on a firing", expr: "cron(0 18 * * ? *)", loc: utc, start: time.Date(2026, 11, 24, 18, 0, 0, 0, utc), after: now, want: time.Date(2026, 11, 24, 18, 0, 0, 0, utc)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := parseSchedule(tc.expr, tc.loc)
			if err != nil {
				t.Fatalf("parse %s: %v", tc.expr, err)
			}
			got, ok := sc.next(tc.after, created, tc.start, tc.end, tc.loc)
			if tc.want.IsZero() {
				if ok {
					t.Fatalf("next = %v, want none", got)
				}
				return
			}
			if !ok || !got.Equal(tc.want) {
				t.Fatalf("next = %v (%v), want %v", got.UTC(), ok, tc.want)
			}
		})
	}
}

func TestParseSchedule_Invalid(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", "at(), rate() or cron()"},
		{"every(5 minutes)", "at(), rate() or cron()"},
		{"at(2026-11-22 10:30:00)", "at(yyyy-mm-ddThh:mm:ss)"},
		{"at(2026-13-01T00:00:00)", "at(yyyy-mm-ddThh:mm:ss)"},
		{"rate(0 minutes)", "positive integer"},
		{"rate(-5 minutes)", "positive integer"},
		{"rate(5)", "positive integer"},
		{"rate(5 weeks)", "unit"},
		{"cron(0 18 * * ?)", "six fields"},
		{"cron(0 18 * * * *)", "exactly one"},
		{"cron(0 18 ? * ? *)", "exactly one"},
		{"cron(60 18 * * ? *)", "out of range"},
		{"cron(0 18 L * ? *)", "not a supported value"},
		{"cron(0 18 15W * ? *)", "not a supported value"},
		{"cron(0 18 ? * 6#3 *)", "not a supported value"},
		{"cron(0 18 ? * 6L *)", "not a supported value"},
		{"cron(? 18 * * ? *)", "only in the day"},
		{"cron(0 20-6 * * ? *)", "backwards"},
		{"cron(*/0 * * * ? *)", "step"},
		{"cron(0 0 1 1 ? 1969)", "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := parseSchedule(tc.expr, time.UTC)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseSchedule(%q) = %v, want an error containing %q", tc.expr, err, tc.want)
			}
		})
	}
}
