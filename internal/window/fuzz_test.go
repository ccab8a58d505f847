package window

import (
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"sun:02:00-sun:05:00",
		"sun:02:00-sun:05:00 Europe/Berlin",
		"sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York",
		"sun:23:00-mon:01:00 Australia/Lord_Howe",
		"sun:02:10-sun:02:50 Australia/Sydney",
		"mon:05:00-mon:04:59 Pacific/Apia",
		" SAT:22:00-sun:01:00 , wed:22:00-wed:23:30 UTC ",
		"sun:02:00-sun:02:00",
		"mon:01:00-mon:02:00,mon:02:00-mon:03:00",
		"sun:24:00-mon:00:00 Mars/Olympus",
		"", ",", "-", "::-::",
	} {
		f.Add(s, int64(1774746000), int64(90)) // 2026-03-29T01:00:00Z, Berlin's spring forward
	}
	f.Fuzz(func(t *testing.T, s string, unix int64, marginMinutes int64) {
		w, err := Parse(s)
		if err != nil {
			if !w.IsZero() {
				t.Fatalf("Parse(%q) returned a non-zero Window with error %v", s, err)
			}
			return
		}
		if w.IsZero() {
			t.Fatalf("Parse(%q) succeeded with the zero Window", s)
		}

		// String round-trips, and is a fixed point.
		canon := w.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse of its String %q: %v", s, canon, err)
		}
		if !again.Equal(w) || again.String() != canon {
			t.Fatalf("Parse(%q) = %q, but Parse(%q) = %q", s, canon, canon, again)
		}

		// Openings, at an instant between 1900 and 2200.
		const from, span = -2208988800, 300 * 365 * 86400
		now := time.Unix(from+(unix%span+span)%span, 0)
		margin := time.Duration(marginMinutes%(8*24*60)) * time.Minute

		ns, ne := w.Next(now)
		if ns.Before(now) || !ns.Before(ne) {
			t.Fatalf("%q.Next(%v) = [%v, %v)", w, now, ns, ne)
		}
		if os, oe, open := w.OpenAt(ns); !open || !os.Equal(ns) || !oe.Equal(ne) {
			t.Fatalf("%q.Next(%v) = [%v, %v), but OpenAt(its start) = [%v, %v) %v", w, now, ns, ne, os, oe, open)
		}
		if os, oe, open := w.OpenAt(now); open && (now.Before(os) || !now.Before(oe)) {
			t.Fatalf("%q.OpenAt(%v) = [%v, %v), which does not hold it", w, now, os, oe)
		}
		ss, se := w.Schedule(now, margin)
		if ss.Before(now) || !ss.Before(se) {
			t.Fatalf("%q.Schedule(%v, %v) = [%v, %v)", w, now, margin, ss, se)
		}
	})
}
