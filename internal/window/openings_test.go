package window

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// at parses an RFC 3339 instant; tests write instants with the offset they
// have in the window's zone, so the expected wall-clock times can be read off.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// opening is what OpenAt, Next and Schedule report, for comparing with cmp
// (which compares time.Time with its Equal method).
type opening struct {
	Start, End time.Time
	Open       bool
}

func TestWindow_OpenAt(t *testing.T) {
	const (
		sunday  = "sun:02:00-sun:05:00"
		weekEnd = "sun:23:00-mon:01:00"
		weekend = "fri:18:00-mon:06:00 Europe/Berlin"
		two     = "sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York"
	)
	closed := opening{}
	tests := []struct {
		name   string
		window string
		t      string
		want   opening
	}{
		{"before", sunday, "2026-01-11T01:59:59Z", closed},
		{"at start", sunday, "2026-01-11T02:00:00Z", opening{at("2026-01-11T02:00:00Z"), at("2026-01-11T05:00:00Z"), true}},
		{"inside", sunday, "2026-01-11T03:30:00Z", opening{at("2026-01-11T02:00:00Z"), at("2026-01-11T05:00:00Z"), true}},
		{"just before end", sunday, "2026-01-11T04:59:59.999999999Z", opening{at("2026-01-11T02:00:00Z"), at("2026-01-11T05:00:00Z"), true}},
		{"at end (exclusive)", sunday, "2026-01-11T05:00:00Z", closed},
		{"other day", sunday, "2026-01-14T03:00:00Z", closed},
		{"t in another zone", sunday, "2026-01-11T04:00:00+01:00", opening{at("2026-01-11T02:00:00Z"), at("2026-01-11T05:00:00Z"), true}},
		{"wrap: sunday side", weekEnd, "2026-01-11T23:30:00Z", opening{at("2026-01-11T23:00:00Z"), at("2026-01-12T01:00:00Z"), true}},
		{"wrap: monday side", weekEnd, "2026-01-12T00:30:00Z", opening{at("2026-01-11T23:00:00Z"), at("2026-01-12T01:00:00Z"), true}},
		{"wrap: monday after", weekEnd, "2026-01-12T01:00:00Z", closed},
		{"weekend: saturday", weekend, "2026-01-10T12:00:00+01:00", opening{at("2026-01-09T18:00:00+01:00"), at("2026-01-12T06:00:00+01:00"), true}},
		{"weekend: monday morning", weekend, "2026-01-12T05:59:00+01:00", opening{at("2026-01-09T18:00:00+01:00"), at("2026-01-12T06:00:00+01:00"), true}},
		{"weekend: over spring forward", weekend, "2026-03-29T12:00:00+02:00", opening{at("2026-03-27T18:00:00+01:00"), at("2026-03-30T06:00:00+02:00"), true}},
		{"weekend: thursday", weekend, "2026-01-08T12:00:00+01:00", closed},
		{"two: wednesday", two, "2026-01-07T23:00:00-05:00", opening{at("2026-01-07T22:00:00-05:00"), at("2026-01-07T23:30:00-05:00"), true}},
		{"two: sunday", two, "2026-01-11T00:59:00-05:00", opening{at("2026-01-10T22:00:00-05:00"), at("2026-01-11T01:00:00-05:00"), true}},
		{"two: between", two, "2026-01-08T12:00:00-05:00", closed},
		{"almost a week: inside", "mon:05:00-mon:04:00", "2026-01-12T03:00:00Z", opening{at("2026-01-05T05:00:00Z"), at("2026-01-12T04:00:00Z"), true}},
		{"almost a week: the gap", "mon:05:00-mon:04:00", "2026-01-12T04:30:00Z", closed},
		{"almost a week: reopened", "mon:05:00-mon:04:00", "2026-01-12T05:00:00Z", opening{at("2026-01-12T05:00:00Z"), at("2026-01-19T04:00:00Z"), true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got opening
			got.Start, got.End, got.Open = MustParse(tt.window).OpenAt(at(tt.t))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%q.OpenAt(%s) (-want +got):\n%s", tt.window, tt.t, diff)
			}
		})
	}
}

func TestWindow_Next(t *testing.T) {
	const (
		sunday = "sun:02:00-sun:05:00"
		berlin = "sun:02:00-sun:05:00 Europe/Berlin"
		two    = "sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York"
	)
	tests := []struct {
		name       string
		window     string
		t          string
		start, end string
	}{
		{"later in the week", sunday, "2026-01-07T12:00:00Z", "2026-01-11T02:00:00Z", "2026-01-11T05:00:00Z"},
		{"at start: this opening", sunday, "2026-01-11T02:00:00Z", "2026-01-11T02:00:00Z", "2026-01-11T05:00:00Z"},
		{"just after start: next week", sunday, "2026-01-11T02:00:00.000000001Z", "2026-01-18T02:00:00Z", "2026-01-18T05:00:00Z"},
		{"inside: next week", sunday, "2026-01-11T03:00:00Z", "2026-01-18T02:00:00Z", "2026-01-18T05:00:00Z"},
		{"at end: next week", sunday, "2026-01-11T05:00:00Z", "2026-01-18T02:00:00Z", "2026-01-18T05:00:00Z"},
		{"same weekday, time passed: next week", sunday, "2026-01-11T10:00:00Z", "2026-01-18T02:00:00Z", "2026-01-18T05:00:00Z"},
		{"same weekday, time to come", sunday, "2026-01-11T01:00:00Z", "2026-01-11T02:00:00Z", "2026-01-11T05:00:00Z"},
		{"across the year end", sunday, "2026-12-30T00:00:00Z", "2027-01-03T02:00:00Z", "2027-01-03T05:00:00Z"},
		{"berlin winter", berlin, "2026-01-07T12:00:00Z", "2026-01-11T02:00:00+01:00", "2026-01-11T05:00:00+01:00"},
		{"berlin summer", berlin, "2026-07-01T12:00:00Z", "2026-07-05T02:00:00+02:00", "2026-07-05T05:00:00+02:00"},
		{"saturday in t's zone, sunday in the window's", berlin, "2026-01-10T19:30:00-05:00", "2026-01-11T02:00:00+01:00", "2026-01-11T05:00:00+01:00"},
		{"wrap week end", "sun:23:00-mon:01:00", "2026-01-11T23:30:00Z", "2026-01-18T23:00:00Z", "2026-01-19T01:00:00Z"},
		{"wrap week end, from monday", "sun:23:00-mon:01:00", "2026-01-12T00:00:00Z", "2026-01-18T23:00:00Z", "2026-01-19T01:00:00Z"},
		{"wrap midnight", "sat:22:00-sun:01:00", "2026-01-05T00:00:00Z", "2026-01-10T22:00:00Z", "2026-01-11T01:00:00Z"},
		{"two: wednesday first", two, "2026-01-05T12:00:00-05:00", "2026-01-07T22:00:00-05:00", "2026-01-07T23:30:00-05:00"},
		{"two: saturday next", two, "2026-01-08T12:00:00-05:00", "2026-01-10T22:00:00-05:00", "2026-01-11T01:00:00-05:00"},
		{"two: inside saturday's", two, "2026-01-10T23:00:00-05:00", "2026-01-14T22:00:00-05:00", "2026-01-14T23:30:00-05:00"},
		{"almost a week, in its gap", "mon:05:00-mon:04:00", "2026-01-12T04:30:00Z", "2026-01-12T05:00:00Z", "2026-01-19T04:00:00Z"},
		{"southern summer", "mon:01:00-mon:03:00 Australia/Sydney", "2026-01-01T00:00:00Z", "2026-01-05T01:00:00+11:00", "2026-01-05T03:00:00+11:00"},
		{"southern winter", "mon:01:00-mon:03:00 Australia/Sydney", "2026-07-01T00:00:00Z", "2026-07-06T01:00:00+10:00", "2026-07-06T03:00:00+10:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := MustParse(tt.window)
			var got opening
			got.Start, got.End = w.Next(at(tt.t))
			want := opening{Start: at(tt.start), End: at(tt.end)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%q.Next(%s) (-want +got):\n%s", tt.window, tt.t, diff)
			}
			if got.Start.Location() != w.Location() {
				t.Errorf("Next returned a time in %v, want %v", got.Start.Location(), w.Location())
			}
		})
	}
}

func TestWindow_Schedule(t *testing.T) {
	const (
		sunday = "sun:02:00-sun:05:00"
		two    = "sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York"
	)
	tests := []struct {
		name       string
		window     string
		now        string
		margin     time.Duration
		start, end string
	}{
		{"before the opening", sunday, "2026-01-07T12:00:00Z", time.Hour, "2026-01-11T02:00:00Z", "2026-01-11T05:00:00Z"},
		{"inside, enough margin: now", sunday, "2026-01-11T03:00:00Z", time.Hour, "2026-01-11T03:00:00Z", "2026-01-11T05:00:00Z"},
		{"inside, margin exactly left: now", sunday, "2026-01-11T04:00:00Z", time.Hour, "2026-01-11T04:00:00Z", "2026-01-11T05:00:00Z"},
		{"inside, not enough margin: next week", sunday, "2026-01-11T04:00:00.000000001Z", time.Hour, "2026-01-18T02:00:00Z", "2026-01-18T05:00:00Z"},
		{"inside, no margin asked", sunday, "2026-01-11T04:59:00Z", 0, "2026-01-11T04:59:00Z", "2026-01-11T05:00:00Z"},
		{"negative margin is none", sunday, "2026-01-11T04:59:00Z", -time.Hour, "2026-01-11T04:59:00Z", "2026-01-11T05:00:00Z"},
		{"exactly at start: now", sunday, "2026-01-11T02:00:00Z", time.Hour, "2026-01-11T02:00:00Z", "2026-01-11T05:00:00Z"},
		{"exactly at start, margin is the whole opening", sunday, "2026-01-11T02:00:00Z", 3 * time.Hour, "2026-01-11T02:00:00Z", "2026-01-11T05:00:00Z"},
		{"exactly at end (exclusive): next week", sunday, "2026-01-11T05:00:00Z", 0, "2026-01-18T02:00:00Z", "2026-01-18T05:00:00Z"},
		// Defect 1 of the recipe: a tag that arrives on the maintenance
		// weekday after the window has closed must wait a week, not run at once.
		{"maintenance day, window passed: next week", sunday, "2026-01-11T10:15:00Z", time.Hour, "2026-01-18T02:00:00Z", "2026-01-18T05:00:00Z"},
		{"maintenance day, window passed, zoned", "sun:02:00-sun:05:00 Europe/Berlin", "2026-01-11T10:15:00+01:00", time.Hour, "2026-01-18T02:00:00+01:00", "2026-01-18T05:00:00+01:00"},
		{"two: too late for saturday's, wednesday's is next", two, "2026-01-11T00:30:00-05:00", time.Hour, "2026-01-14T22:00:00-05:00", "2026-01-14T23:30:00-05:00"},
		{"two: skip wednesday's, too short for the margin", two, "2026-01-12T12:00:00-05:00", 2 * time.Hour, "2026-01-17T22:00:00-05:00", "2026-01-18T01:00:00-05:00"},
		{"margin longer than every range: next opening", two, "2026-01-12T12:00:00-05:00", 4 * time.Hour, "2026-01-14T22:00:00-05:00", "2026-01-14T23:30:00-05:00"},
		{"wrapping week end, inside on monday", "sun:23:00-mon:01:00", "2026-01-12T00:15:00Z", 30 * time.Minute, "2026-01-12T00:15:00Z", "2026-01-12T01:00:00Z"},
		// The spring-forward opening of "sun:02:30-sun:05:00 Europe/Berlin"
		// lasts 2h (03:00-05:00); a rollout needing 2h30m waits a week.
		{"dst-shortened opening long enough", "sun:02:30-sun:05:00 Europe/Berlin", "2026-03-28T12:00:00+01:00", 2 * time.Hour, "2026-03-29T03:00:00+02:00", "2026-03-29T05:00:00+02:00"},
		{"dst-shortened opening too short: next week", "sun:02:30-sun:05:00 Europe/Berlin", "2026-03-28T12:00:00+01:00", 150 * time.Minute, "2026-04-05T02:30:00+02:00", "2026-04-05T05:00:00+02:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := MustParse(tt.window)
			now := at(tt.now)
			var got opening
			got.Start, got.End = w.Schedule(now, tt.margin)
			want := opening{Start: at(tt.start), End: at(tt.end)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%q.Schedule(%s, %v) (-want +got):\n%s", tt.window, tt.now, tt.margin, diff)
			}
			if got.Start.Before(now) {
				t.Errorf("Schedule start %v is before now %v", got.Start, now)
			}
		})
	}
}

func BenchmarkNext(b *testing.B) {
	for _, s := range []string{
		"sun:02:00-sun:05:00",
		"sun:02:00-sun:05:00 Europe/Berlin",
		"sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York",
	} {
		w := MustParse(s)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		b.Run(s, func(b *testing.B) {
			i := 0
			for b.Loop() {
				// Step through a year so lookups are not all in one zone period.
				w.Next(t0.Add(time.Duration(i%8760) * time.Hour))
				i++
			}
		})
	}
}

func BenchmarkSchedule(b *testing.B) {
	w := MustParse("sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for b.Loop() {
		w.Schedule(t0.Add(time.Duration(i%8760)*time.Hour), time.Hour)
		i++
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York"); err != nil {
			b.Fatal(err)
		}
	}
}
