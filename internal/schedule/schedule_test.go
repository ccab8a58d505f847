package schedule

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestFirings(t *testing.T) {
	created := at("2026-12-01T00:00:00Z")
	tests := []struct {
		name, expr, tz string
		bounds         Bounds
		from, to       string
		want           []string
	}{
		{name: "at inside", expr: "at(2026-12-02T02:30:00)", from: "2026-12-02T02:00:00Z", to: "2026-12-02T03:00:00Z", want: []string{"2026-12-02T02:30:00Z"}},
		{name: "at on the open lower end", expr: "at(2026-12-02T02:00:00)", from: "2026-12-02T02:00:00Z", to: "2026-12-02T03:00:00Z"},
		{name: "at on the closed upper end", expr: "at(2026-12-02T03:00:00)", from: "2026-12-02T02:00:00Z", to: "2026-12-02T03:00:00Z", want: []string{"2026-12-02T03:00:00Z"}},
		{name: "at in a zone", expr: "at(2026-12-02T03:30:00)", tz: "Europe/Berlin", from: "2026-12-02T02:00:00Z", to: "2026-12-02T03:00:00Z", want: []string{"2026-12-02T02:30:00Z"}},
		{name: "rate from creation", expr: "rate(30 minutes)", from: "2026-12-01T00:40:00Z", to: "2026-12-01T01:30:00Z", want: []string{"2026-12-01T01:00:00Z", "2026-12-01T01:30:00Z"}},
		{name: "rate from start", expr: "rate(1 hour)", bounds: Bounds{Start: at("2026-12-01T00:15:00Z")}, from: "2026-12-01T00:00:00Z", to: "2026-12-01T01:20:00Z", want: []string{"2026-12-01T00:15:00Z", "2026-12-01T01:15:00Z"}},
		{name: "rate after end", expr: "rate(1 hour)", bounds: Bounds{End: at("2026-12-01T01:30:00Z")}, from: "2026-12-01T00:30:00Z", to: "2026-12-01T05:00:00Z", want: []string{"2026-12-01T01:00:00Z"}},
		{name: "cron daily", expr: "cron(0 2 * * ? *)", from: "2026-12-01T00:00:00Z", to: "2026-12-03T00:00:00Z", want: []string{"2026-12-01T02:00:00Z", "2026-12-02T02:00:00Z"}},
		{name: "cron in a zone", expr: "cron(0 8 * * ? *)", tz: "America/New_York", from: "2026-12-01T00:00:00Z", to: "2026-12-02T00:00:00Z", want: []string{"2026-12-01T13:00:00Z"}},
		{name: "cron weekdays by name", expr: "cron(30 6 ? * MON-FRI *)", from: "2026-12-04T00:00:00Z", to: "2026-12-08T00:00:00Z", want: []string{"2026-12-04T06:30:00Z", "2026-12-07T06:30:00Z"}},
		{name: "cron step", expr: "cron(0/20 1 * * ? 2026)", from: "2026-12-01T01:00:00Z", to: "2026-12-01T02:00:00Z", want: []string{"2026-12-01T01:20:00Z", "2026-12-01T01:40:00Z"}},
		{name: "cron last day", expr: "cron(0 0 L * ? *)", from: "2026-11-29T00:00:00Z", to: "2026-12-02T00:00:00Z", want: []string{"2026-11-30T00:00:00Z"}},
		{name: "cron other year", expr: "cron(0 2 * * ? 2027)", from: "2026-12-01T00:00:00Z", to: "2026-12-03T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.expr, tt.tz)
			if err != nil {
				t.Fatal(err)
			}
			b := tt.bounds
			b.Created = created
			var got []string
			for _, f := range e.Firings(b, at(tt.from), at(tt.to)) {
				got = append(got, f.UTC().Format(time.RFC3339))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Firings = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ expr, tz, want string }{
		{"every day", "", "not an at(), rate() or cron()"},
		{"at(2026-12-02 02:30)", "", "want at(yyyy-mm-ddThh:mm:ss)"},
		{"rate(0 minutes)", "", "positive integer"},
		{"rate(5 weeks)", "", "want rate"},
		{"cron(0 2 * * *)", "", "six cron fields"},
		{"cron(0 2 * * * *)", "", "exactly one of day-of-month and day-of-week"},
		{"cron(0 2 ? * ? *)", "", "exactly one of day-of-month and day-of-week"},
		{"cron(61 2 * * ? *)", "", "between 0 and 59"},
		{"cron(0 2 5-1 * ? *)", "", "runs backwards"},
		{"cron(0 2 ? * MON#2 *)", "", "not supported"},
		{"cron(0 2 * * ? *)", "Mars/Olympus", "unknown time zone"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr, tt.tz)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q, %q) = %v, want an error containing %q", tt.expr, tt.tz, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"at(2026-12-02T02:30:00)", "rate(5 minutes)", "cron(0/20 1 * * ? 2026)", "cron(0 0 L * ? *)", "cron(30 6 ? * MON-FRI *)"} {
		f.Add(s)
	}
	from, to := at("2026-12-01T00:00:00Z"), at("2026-12-01T06:00:00Z")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s, "")
		if err != nil {
			return
		}
		prev := from
		for _, fired := range e.Firings(Bounds{Created: from}, from, to) {
			if !fired.After(prev) && fired != prev || fired.After(to) || !fired.After(from) {
				t.Fatalf("%q fired at %v outside (%v, %v] or out of order", s, fired, from, to)
			}
			prev = fired
		}
	})
}
