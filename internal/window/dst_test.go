package window

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The clock changes of 2026 used below (local times):
//
//	Europe/Berlin        29 Mar 02:00 -> 03:00    25 Oct 03:00 -> 02:00
//	America/New_York      8 Mar 02:00 -> 03:00     1 Nov 02:00 -> 01:00
//	Australia/Sydney      4 Oct 02:00 -> 03:00     5 Apr 03:00 -> 02:00
//	Australia/Lord_Howe   4 Oct 02:00 -> 02:30     5 Apr 02:00 -> 01:30
func TestWindow_DST(t *testing.T) {
	tests := []struct {
		name       string
		window     string
		t          string // Next is asked from here, the day before the change
		start, end string // the opening Next reports
	}{
		// Europe/Berlin, spring forward: 02:00-02:59 do not exist.
		{"berlin spring: start in gap moves to 03:00", "sun:02:30-sun:05:00 Europe/Berlin", "2026-03-28T12:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T05:00:00+02:00"},
		{"berlin spring: end in gap moves to 03:00", "sun:01:00-sun:02:30 Europe/Berlin", "2026-03-28T12:00:00+01:00", "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"},
		{"berlin spring: spanning the change", "sun:01:30-sun:03:30 Europe/Berlin", "2026-03-28T12:00:00+01:00", "2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00"},
		{"berlin spring: wholly in gap, none that week", "sun:02:10-sun:02:50 Europe/Berlin", "2026-03-28T12:00:00+01:00", "2026-04-05T02:10:00+02:00", "2026-04-05T02:50:00+02:00"},
		{"berlin spring: wrapping from saturday into the gap", "sat:23:00-sun:02:30 Europe/Berlin", "2026-03-28T12:00:00+01:00", "2026-03-28T23:00:00+01:00", "2026-03-29T03:00:00+02:00"},
		{"berlin spring: start at the missing 02:00", "sun:02:00-sun:04:00 Europe/Berlin", "2026-03-28T12:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"},
		// Europe/Berlin, fall back: 02:00-02:59 happen twice; first = CEST.
		{"berlin fall: start in repeat is first", "sun:02:30-sun:04:00 Europe/Berlin", "2026-10-24T12:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T04:00:00+01:00"},
		{"berlin fall: end in repeat is first", "sun:01:00-sun:02:30 Europe/Berlin", "2026-10-24T12:00:00+02:00", "2026-10-25T01:00:00+02:00", "2026-10-25T02:30:00+02:00"},
		{"berlin fall: wholly in repeat, once", "sun:02:10-sun:02:50 Europe/Berlin", "2026-10-24T12:00:00+02:00", "2026-10-25T02:10:00+02:00", "2026-10-25T02:50:00+02:00"},
		{"berlin fall: spanning the change", "sun:01:00-sun:05:00 Europe/Berlin", "2026-10-24T12:00:00+02:00", "2026-10-25T01:00:00+02:00", "2026-10-25T05:00:00+01:00"},
		{"berlin fall: start in repeat, end after", "sun:02:30-sun:03:30 Europe/Berlin", "2026-10-24T12:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T03:30:00+01:00"},
		{"berlin fall: after the first 02:50, next week", "sun:02:10-sun:02:50 Europe/Berlin", "2026-10-25T02:50:00+02:00", "2026-11-01T02:10:00+01:00", "2026-11-01T02:50:00+01:00"},
		// America/New_York.
		{"new york spring: 02:00 missing", "sun:02:00-sun:04:00 America/New_York", "2026-03-07T12:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"},
		{"new york spring: wrapping week end over the change", "sat:23:00-mon:01:00 America/New_York", "2026-03-07T12:00:00-05:00", "2026-03-07T23:00:00-05:00", "2026-03-09T01:00:00-04:00"},
		{"new york fall: 01:30 to 02:30", "sun:01:30-sun:02:30 America/New_York", "2026-10-31T12:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:30:00-05:00"},
		{"new york fall: end in repeat is first", "sun:00:30-sun:01:30 America/New_York", "2026-10-31T12:00:00-04:00", "2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00"},
		// Australia/Sydney: southern hemisphere, summer time over new year.
		{"sydney fall (april): start in repeat is first", "sun:02:30-sun:04:00 Australia/Sydney", "2026-04-04T12:00:00+11:00", "2026-04-05T02:30:00+11:00", "2026-04-05T04:00:00+10:00"},
		{"sydney spring (october): spanning the change", "sun:01:00-sun:04:00 Australia/Sydney", "2026-10-03T12:00:00+10:00", "2026-10-04T01:00:00+10:00", "2026-10-04T04:00:00+11:00"},
		{"sydney spring: wholly in gap, none that week", "sun:02:15-sun:02:45 Australia/Sydney", "2026-10-03T12:00:00+10:00", "2026-10-11T02:15:00+11:00", "2026-10-11T02:45:00+11:00"},
		// Australia/Lord_Howe: a 30-minute change.
		{"lord howe spring: start in the 30-minute gap", "sun:02:10-sun:03:00 Australia/Lord_Howe", "2026-10-03T12:00:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T03:00:00+11:00"},
		{"lord howe spring: wholly in gap, none that week", "sun:02:05-sun:02:25 Australia/Lord_Howe", "2026-10-03T12:00:00+10:30", "2026-10-11T02:05:00+11:00", "2026-10-11T02:25:00+11:00"},
		{"lord howe fall: start in the repeated half hour", "sun:01:45-sun:03:00 Australia/Lord_Howe", "2026-04-04T12:00:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-05T03:00:00+10:30"},
		{"lord howe fall: wholly in the repeat, once", "sun:01:35-sun:01:55 Australia/Lord_Howe", "2026-04-04T12:00:00+11:00", "2026-04-05T01:35:00+11:00", "2026-04-05T01:55:00+11:00"},
		// UTC has no changes: the same instants every week.
		{"utc on berlin's spring day", "sun:02:30-sun:05:00", "2026-03-28T12:00:00Z", "2026-03-29T02:30:00Z", "2026-03-29T05:00:00Z"},
		{"utc on berlin's fall day", "sun:02:10-sun:02:50", "2026-10-24T12:00:00Z", "2026-10-25T02:10:00Z", "2026-10-25T02:50:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := MustParse(tt.window)
			var got opening
			got.Start, got.End = w.Next(at(tt.t))
			want := opening{Start: at(tt.start), End: at(tt.end)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%q.Next(%s) (-want +got):\n%s", tt.window, tt.t, diff)
			}
			// OpenAt agrees at both edges and in the middle.
			for _, probe := range []time.Time{want.Start, want.Start.Add(want.End.Sub(want.Start) / 2), want.End.Add(-time.Nanosecond)} {
				var o opening
				o.Start, o.End, o.Open = w.OpenAt(probe)
				if diff := cmp.Diff(opening{want.Start, want.End, true}, o); diff != "" {
					t.Errorf("OpenAt(%v) (-want +got):\n%s", probe, diff)
				}
			}
			if _, _, open := w.OpenAt(want.End); open {
				t.Errorf("OpenAt(end %v) is open", want.End)
			}
		})
	}
}

// TestWindow_DST_fallBackOpensOnce checks that on a fall-back day no window
// opens twice, by walking every opening over the day and by asking OpenAt at
// each minute whether the window is open: the open minutes must form one run.
func TestWindow_DST_fallBackOpensOnce(t *testing.T) {
	tests := []struct {
		window string
		day    string // midnight before the change, local time
		want   time.Duration
	}{
		{"sun:02:10-sun:02:50 Europe/Berlin", "2026-10-25T00:00:00+02:00", 40 * time.Minute},
		{"sun:02:30-sun:02:31 Europe/Berlin", "2026-10-25T00:00:00+02:00", time.Minute},
		{"sun:00:00-sun:02:30 Europe/Berlin", "2026-10-25T00:00:00+02:00", 150 * time.Minute},
		{"sun:02:30-sun:04:00 Europe/Berlin", "2026-10-25T00:00:00+02:00", 150 * time.Minute},
		{"sun:01:15-sun:01:45 America/New_York", "2026-11-01T00:00:00-04:00", 30 * time.Minute},
		{"sun:02:00-sun:02:59 Australia/Sydney", "2026-04-05T00:00:00+11:00", 59 * time.Minute},
		{"sun:01:35-sun:01:55 Australia/Lord_Howe", "2026-04-05T00:00:00+11:00", 20 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.window, func(t *testing.T) {
			w := MustParse(tt.window)
			from := at(tt.day)
			to := from.Add(25 * time.Hour)
			var n int
			for s, e := w.Next(from); s.Before(to); s, e = w.Next(e) {
				n++
				if got := e.Sub(s); got != tt.want {
					t.Errorf("opening %v-%v lasts %v, want %v", s, e, got, tt.want)
				}
			}
			if n != 1 {
				t.Errorf("%d openings on the fall-back day, want 1", n)
			}
			runs, wasOpen := 0, false
			for x := from; x.Before(to); x = x.Add(time.Minute) {
				_, _, open := w.OpenAt(x)
				if open && !wasOpen {
					runs++
				}
				wasOpen = open
			}
			if runs != 1 {
				t.Errorf("OpenAt is open in %d separate runs over the day, want 1", runs)
			}
		})
	}
}

// wallOf returns the reading of t's clock in loc, as a UTC time.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// firstReading is the policy stated naively, as an oracle for resolve: the
// first minute at which loc's clock reads wall or later, found by stepping a
// minute at a time (every change in these zones is on a whole minute) from an
// instant an hour before any offset seen within two days could show wall.
func firstReading(t *testing.T, wall time.Time, loc *time.Location) time.Time {
	t.Helper()
	maxOffset := -24 * time.Hour
	for h := -48; h <= 48; h += 6 {
		_, off := wall.Add(time.Duration(h) * time.Hour).In(loc).Zone()
		maxOffset = max(maxOffset, time.Duration(off)*time.Second)
	}
	x := wall.Add(-maxOffset - time.Hour)
	if !wallOf(x, loc).Before(wall) {
		t.Fatalf("oracle: %v reads %v already", x, wallOf(x, loc))
	}
	for wallOf(x, loc).Before(wall) {
		x = x.Add(time.Minute)
	}
	return x
}

// oddZones have changes that are not one hour, not at 02:00, backwards in
// winter, or skip a whole day.
var oddZones = []string{
	"UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe",
	"Europe/Dublin",      // "summer" time is the standard; winter is the negative-DST period
	"Antarctica/Troll",   // a two-hour change
	"Pacific/Apia",       // skipped 30 December 2011 entirely
	"America/Santiago",   // changes at midnight
	"Asia/Tehran",        // +03:30, changes at midnight (until 2022)
	"Africa/Casablanca",  // goes back for Ramadan and forward after it
	"America/St_Johns",   // -03:30
	"Pacific/Chatham",    // +12:45/+13:45
	"America/Havana",     // changes at midnight
	"Asia/Kathmandu",     // +05:45, no DST
	"Pacific/Kiritimati", // +14
	"America/Argentina/Salta",
}

func TestResolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zones := oddZones
	if testing.Short() {
		zones = zones[:5]
	}
	for _, name := range zones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		check := func(wall time.Time) {
			t.Helper()
			y, m, d := wall.Date()
			got := resolve(y, m, d, wall.Hour()*60+wall.Minute(), loc)
			if want := firstReading(t, wall, loc); !got.Equal(want) {
				t.Errorf("%s: resolve(%s) = %v, want %v", name, wall.Format("2006-01-02 15:04"), got, want)
			}
			if got.Location() != loc {
				t.Errorf("%s: resolve returned a time in %v", name, got.Location())
			}
		}
		// Around every change from 2008 to 2030: at 10-minute steps, and a
		// minute either side of the readings just before and at the change.
		x := time.Date(2008, 1, 1, 0, 0, 0, 0, loc)
		for {
			_, next := x.ZoneBounds()
			if next.IsZero() || next.Year() > 2030 {
				break
			}
			for _, edge := range []time.Time{wallOf(next.Add(-time.Second), loc), wallOf(next, loc)} {
				for dm := -1; dm <= 1; dm++ {
					check(edge.Truncate(time.Minute).Add(time.Duration(dm) * time.Minute))
				}
				base := edge.Truncate(time.Hour)
				for dm := -150; dm <= 150; dm += 10 {
					check(base.Add(time.Duration(dm) * time.Minute))
				}
			}
			x = next
		}
		// And at random minutes.
		for range 50 {
			check(time.Date(1990+rng.IntN(50), time.January, 1+rng.IntN(366), 0, rng.IntN(minutesPerDay), 0, 0, time.UTC))
		}
	}
}

// TestWindow_properties checks the invariants of OpenAt, Next and Schedule at
// random instants, in windows of random ranges and zones.
func TestWindow_properties(t *testing.T) {
	rng := rand.New(rand.NewPCG(20260329, 1))
	randomTime := func() time.Time {
		// 2008-2035, on a whole minute half the time, else to the nanosecond.
		t := time.Unix(1199145600+rng.Int64N(28*365*86400), 0)
		if rng.IntN(2) == 0 {
			t = t.Add(time.Duration(rng.Int64N(int64(time.Minute))))
		}
		return t
	}
	var windows []Window
	for _, s := range []string{
		"sun:02:00-sun:05:00", "sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York",
		"sun:02:30-sun:02:45 Europe/Berlin", "sun:01:45-sun:02:35 Australia/Lord_Howe",
		"fri:18:00-mon:06:00 Australia/Sydney", "mon:05:00-mon:04:59 Europe/Dublin",
	} {
		windows = append(windows, MustParse(s))
	}
	for len(windows) < 60 {
		// Random ranges of random length; Parse discards overlaps.
		var s string
		for i := range 1 + rng.IntN(4) {
			if i > 0 {
				s += ","
			}
			a, b := rng.IntN(minutesPerWeek), rng.IntN(minutesPerWeek)
			if rng.IntN(2) == 0 {
				b = (a + 1 + rng.IntN(240)) % minutesPerWeek // short ones meet gaps
			}
			s += span{start: a, length: (b - a + minutesPerWeek) % minutesPerWeek}.String()
		}
		s += " " + oddZones[rng.IntN(len(oddZones))]
		if w, err := Parse(s); err == nil {
			windows = append(windows, w)
		}
	}

	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		w := windows[i%len(windows)]
		now := randomTime()
		margin := time.Duration(rng.IntN(6*60)) * time.Minute

		os, oe, open := w.OpenAt(now)
		if open {
			if now.Before(os) || !now.Before(oe) {
				t.Fatalf("%q.OpenAt(%v) = [%v, %v), which does not hold it", w, now, os, oe)
			}
			if s, e := w.Next(os); !s.Equal(os) || !e.Equal(oe) {
				t.Fatalf("%q: OpenAt(%v) = [%v, %v) but Next(its start) = [%v, %v)", w, now, os, oe, s, e)
			}
		}

		ns, ne := w.Next(now)
		if ns.Before(now) || !ns.Before(ne) {
			t.Fatalf("%q.Next(%v) = [%v, %v)", w, now, ns, ne)
		}
		if s, e, ok := w.OpenAt(ns); !ok || !s.Equal(ns) || !e.Equal(ne) {
			t.Fatalf("%q.Next(%v) = [%v, %v) but OpenAt(its start) = [%v, %v) %v", w, now, ns, ne, s, e, ok)
		}
		// No opening starts between now and Next's: scan minute by minute
		// (openings start and end on whole minutes) for one case in 25.
		if i%25 == 0 {
			for x := now.Truncate(time.Minute).Add(time.Minute); x.Before(ns); x = x.Add(time.Minute) {
				if s, _, ok := w.OpenAt(x); ok && !s.Before(now) {
					t.Fatalf("%q.Next(%v) = %v, but an opening starts at %v", w, now, ns, s)
				}
			}
		}

		ss, se := w.Schedule(now, margin)
		if ss.Before(now) {
			t.Fatalf("%q.Schedule(%v, %v) starts at %v, before now", w, now, margin, ss)
		}
		if s, e, ok := w.OpenAt(ss); !ok || !e.Equal(se) || s.After(ss) {
			t.Fatalf("%q.Schedule(%v, %v) = [%v, %v), not inside an opening (OpenAt: [%v, %v) %v)", w, now, margin, ss, se, s, e, ok)
		}
		if open && oe.Sub(now) >= margin && (!ss.Equal(now) || !se.Equal(oe)) {
			t.Fatalf("%q.Schedule(%v, %v) = [%v, %v), want now: open until %v", w, now, margin, ss, se, oe)
		}
		if !ss.Equal(now) && se.Sub(ss) < margin && !ss.Equal(ns) {
			t.Fatalf("%q.Schedule(%v, %v) = [%v, %v): short of margin, but not the next opening %v", w, now, margin, ss, se, ns)
		}
	}
}
