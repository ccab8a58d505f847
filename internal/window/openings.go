package window

import "time"

// scheduleHorizon bounds how far ahead Schedule looks for an opening long
// enough for its margin. Five weeks meet every range at least four times, so
// a range shortened by one daylight-saving change is still found.
const scheduleHorizon = 5 * 7 * 24 * time.Hour

// OpenAt reports whether t falls inside an opening of w and, if so, that
// opening's start and end. The start is inside the opening and the end is not:
// at the very instant an opening ends, OpenAt reports false (or the next
// opening, if one starts then). The instants returned are in w's Location.
func (w Window) OpenAt(t time.Time) (start, end time.Time, open bool) {
	y, m, d, wd := w.civil(t)
	for _, sp := range w.spans {
		base := d - (wd-sp.start/minutesPerDay+7)%7
		// An opening that contains t started on the anchor day on or
		// before t's date or a week earlier; the week after is checked
		// for zones whose clocks go back across midnight.
		for k := -1; k <= 1; k++ {
			s, e := w.opening(sp, y, m, base+7*k)
			if !t.Before(s) && t.Before(e) {
				return s, e, true
			}
		}
	}
	return time.Time{}, time.Time{}, false
}

// Next returns the first opening of w that starts at or after t: if t is the
// very instant an opening starts, that opening. An opening already under way
// at t is not returned (see OpenAt). To walk through the openings in order,
// call Next again with the end of the previous one. The instants returned are
// in w's Location. The zero Window has no openings; for it Next returns zero
// Times.
func (w Window) Next(t time.Time) (start, end time.Time) {
	y, m, d, wd := w.civil(t)
	for _, sp := range w.spans {
		base := d - (wd-sp.start/minutesPerDay+7)%7
		// Occurrences of one range come in order, so the first that is
		// not empty and starts at or after t is this range's answer. The
		// one a week after the anchor day always starts after t unless a
		// daylight-saving gap swallows it; then the week after that does.
		for k := -1; k <= 4; k++ {
			s, e := w.opening(sp, y, m, base+7*k)
			if s.Before(e) && !s.Before(t) {
				if start.IsZero() || s.Before(start) {
					start, end = s, e
				}
				break
			}
		}
	}
	return start, end
}

// Schedule decides when a rollout requested at now should start, given that
// it needs margin of open window to run. It never returns a start before now.
//
//  1. If now is inside an opening that still has at least margin left, the
//     rollout starts now: start is now and end the end of that opening.
//  2. Otherwise it starts at the first opening that starts at or after now and
//     is at least margin long, which skips an opening a daylight-saving change
//     made too short. So a request that arrives on the maintenance day after
//     the window has closed waits for the next week's opening.
//  3. If no opening in the next five weeks is that long (margin is longer than
//     every range), it starts at the next opening, as Next(now) reports;
//     callers should refuse such margins when they read their configuration.
//
// The instants returned are in w's Location. For the zero Window Schedule
// returns zero Times.
func (w Window) Schedule(now time.Time, margin time.Duration) (start, end time.Time) {
	if _, e, open := w.OpenAt(now); open && e.Sub(now) >= margin {
		return now.In(w.Location()), e
	}
	firstStart, firstEnd := w.Next(now)
	for s, e := firstStart, firstEnd; !s.IsZero() && s.Sub(now) < scheduleHorizon; s, e = w.Next(e) {
		if e.Sub(s) >= margin {
			return s, e
		}
	}
	return firstStart, firstEnd
}

// civil returns t's calendar date in w's zone and its day of the week
// counted from Monday = 0.
func (w Window) civil(t time.Time) (y int, m time.Month, d, weekday int) {
	lt := t.In(w.Location())
	y, m, d = lt.Date()
	return y, m, d, (int(lt.Weekday()) + 6) % 7
}

// opening returns the start and end of the occurrence of sp that starts on
// the calendar date y-m-d in w's zone (d may lie outside the month; it is
// normalized). The end equals the start if the whole occurrence falls in a
// daylight-saving gap.
func (w Window) opening(sp span, y int, m time.Month, d int) (start, end time.Time) {
	sm := sp.start % minutesPerDay
	return resolve(y, m, d, sm, w.loc), resolve(y, m, d, sm+sp.length, w.loc)
}

// maxOffset bounds the distance between a wall-clock reading and UTC in any
// zone the database has ever described (the largest are under 16 hours).
const maxOffset = 26 * time.Hour

// resolve returns the first instant at which the clock in loc reads the wall
// time minute minutes after midnight on y-m-d (both normalized), or a later
// time. That is the instant showing the wall time if there is one, the
// earlier of the two if the wall time occurs twice, and the instant the clocks
// jump forward if it falls in a gap.
//
// It walks the zone periods (spans of constant offset) around the wall time,
// earliest first, and checks for each whether the instant wall-offset lies
// inside it, rather than trusting time.Date's unspecified choice in gaps and
// repeats.
func resolve(y int, m time.Month, d, minute int, loc *time.Location) time.Time {
	wall := time.Date(y, m, d, 0, minute, 0, 0, time.UTC) // the reading, as if it were UTC
	limit := wall.Add(maxOffset)
	t := wall.Add(-maxOffset)
	var prevOffset time.Duration
	for first := true; ; first = false {
		lt := t.In(loc)
		_, off := lt.Zone()
		offset := time.Duration(off) * time.Second
		from, until := lt.ZoneBounds()
		// A forward jump at from skips the readings [from+prev, from+offset).
		if !first && prevOffset < offset && !wall.Before(from.Add(prevOffset)) && wall.Before(from.Add(offset)) {
			return from
		}
		// The reading occurs in this period if wall-offset lies inside it.
		if c := wall.Add(-offset); (from.IsZero() || !c.Before(from)) && (until.IsZero() || c.Before(until)) {
			return c.In(loc)
		}
		if until.IsZero() || until.After(limit) {
			break
		}
		prevOffset, t = offset, until
	}
	// Unreachable for any zone in the database; fall back to time.Date.
	return time.Date(y, m, d, 0, minute, 0, 0, loc)
}
