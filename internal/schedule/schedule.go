// Package schedule reads Application Auto Scaling schedule expressions (at(), rate() and cron(),
// each in a time zone) and says when they fire. deskpilot needs it for two questions AWS does
// not answer: which scheduled actions would have fired while a drained fleet's scheduled
// scaling was suspended (their Min/Max is what the restore must apply), and which fall inside a
// maintenance window (the plan warns about them).
//
// It is written apart from the emulator's own parser on purpose: the emulator plays AWS in the
// tests, and an expression both sides read the same way through shared code could hide a
// misreading from every test.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The zone of an action must mean the same on every machine.
	_ "time/tzdata"
)

// Expr is a parsed schedule expression.
type Expr struct {
	text string
	at   time.Time     // at(): the instant
	rate time.Duration // rate(): the interval
	cron *cron         // cron(): the fields
}

func (e Expr) String() string { return e.text }

// Parse reads expr in the zone named tz ("" is UTC), as PutScheduledAction takes them.
func Parse(expr, tz string) (Expr, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return Expr{}, fmt.Errorf("unknown time zone %q", tz)
		}
		loc = l
	}
	e := Expr{text: expr}
	name, arg, ok := strings.Cut(expr, "(")
	if !ok || !strings.HasSuffix(arg, ")") {
		return Expr{}, fmt.Errorf("%q is not an at(), rate() or cron() expression", expr)
	}
	arg = strings.TrimSuffix(arg, ")")
	switch name {
	case "at":
		t, err := time.ParseInLocation("2006-01-02T15:04:05", arg, loc)
		if err != nil {
			return Expr{}, fmt.Errorf("%q: want at(yyyy-mm-ddThh:mm:ss)", expr)
		}
		e.at = t
	case "rate":
		n, unit, _ := strings.Cut(arg, " ")
		v, err := strconv.Atoi(n)
		if err != nil || v <= 0 {
			return Expr{}, fmt.Errorf("%q: want rate(N minutes|hours|days) with N a positive integer", expr)
		}
		per, ok := map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}[unit]
		if !ok || v > 1_000_000 {
			return Expr{}, fmt.Errorf("%q: want rate(N minutes|hours|days)", expr)
		}
		e.rate = time.Duration(v) * per
	case "cron":
		c, err := parseCron(arg, loc)
		if err != nil {
			return Expr{}, fmt.Errorf("%q: %w", expr, err)
		}
		e.cron = c
	default:
		return Expr{}, fmt.Errorf("%q is not an at(), rate() or cron() expression", expr)
	}
	return e, nil
}

// Bounds are a scheduled action's StartTime and EndTime (zero: open) and its CreationTime,
// which anchors a rate() without a StartTime.
type Bounds struct{ Start, End, Created time.Time }

// maxScan bounds how far a cron() expression is searched, minute by minute.
const maxScan = 8 * 24 * time.Hour

// Firings returns the instants in (from, to] at which the expression fires within its bounds,
// oldest first. A cron() span longer than eight days is searched only over its last eight days.
func (e Expr) Firings(b Bounds, from, to time.Time) []time.Time {
	if b.Start.After(from) {
		from = b.Start.Add(-time.Nanosecond)
	}
	if !b.End.IsZero() && b.End.Before(to) {
		to = b.End
	}
	if !to.After(from) {
		return nil
	}
	var out []time.Time
	switch {
	case !e.at.IsZero():
		if e.at.After(from) && !e.at.After(to) {
			out = append(out, e.at)
		}
	case e.rate > 0:
		first := b.Created.Add(e.rate)
		if !b.Start.IsZero() {
			first = b.Start
		}
		t := first
		if !t.After(from) {
			t = first.Add((from.Sub(first)/e.rate + 1) * e.rate)
		}
		for ; !t.After(to) && len(out) < 10_000; t = t.Add(e.rate) {
			out = append(out, t)
		}
	case e.cron != nil:
		if to.Sub(from) > maxScan {
			from = to.Add(-maxScan)
		}
		t := from.Truncate(time.Minute)
		if !t.After(from) {
			t = t.Add(time.Minute)
		}
		for ; !t.After(to); t = t.Add(time.Minute) {
			if e.cron.matches(t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// cron is a six-field expression: minutes, hours, day of month, month, day of week (1 is
// Sunday), year; a nil day field is "?".
type cron struct {
	loc                                 *time.Location
	minute, hour, dom, month, dow, year map[int]bool
	lastDOM                             bool // day of month "L"
}

func (c *cron) matches(t time.Time) bool {
	t = t.In(c.loc)
	if !c.minute[t.Minute()] || !c.hour[t.Hour()] || !c.month[int(t.Month())] || !c.year[t.Year()] {
		return false
	}
	switch {
	case c.lastDOM:
		return t.AddDate(0, 0, 1).Day() == 1
	case c.dom != nil:
		return c.dom[t.Day()]
	default:
		return c.dow[int(t.Weekday())+1]
	}
}

type field struct {
	lo, hi int
	names  []string
}

var fields = [6]field{
	{0, 59, nil},
	{0, 23, nil},
	{1, 31, nil},
	{1, 12, []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{1, 7, []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
	{1970, 2199, nil},
}

func parseCron(s string, loc *time.Location) (*cron, error) {
	parts := strings.Fields(s)
	if len(parts) != 6 {
		return nil, fmt.Errorf("want six cron fields (minutes hours day-of-month month day-of-week year), got %d", len(parts))
	}
	c := &cron{loc: loc}
	sets := make([]map[int]bool, 6)
	for i, p := range parts {
		switch {
		case p == "?" && (i == 2 || i == 4):
			continue
		case p == "L" && i == 2:
			c.lastDOM = true
			continue
		}
		set, err := fields[i].parse(p)
		if err != nil {
			return nil, err
		}
		sets[i] = set
	}
	c.minute, c.hour, c.dom, c.month, c.dow, c.year = sets[0], sets[1], sets[2], sets[3], sets[4], sets[5]
	if c.minute == nil || c.hour == nil || c.month == nil || c.year == nil {
		return nil, fmt.Errorf("only the day fields may be ?")
	}
	if (c.dom == nil && !c.lastDOM) == (c.dow == nil) {
		return nil, fmt.Errorf("exactly one of day-of-month and day-of-week must be ?")
	}
	return c, nil
}

// parse reads "*", "v", "a-b", any of them with "/step", or a comma list of those.
func (f field) parse(s string) (map[int]bool, error) {
	value := func(v string) (int, error) {
		for i, n := range f.names {
			if strings.EqualFold(v, n) {
				return f.lo + i, nil
			}
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < f.lo || n > f.hi {
			return 0, fmt.Errorf("%q is not a value between %d and %d (L, W and # are not supported)", v, f.lo, f.hi)
		}
		return n, nil
	}
	set := map[int]bool{}
	for _, item := range strings.Split(s, ",") {
		span, stepText, stepped := strings.Cut(item, "/")
		step := 1
		if stepped {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%q is not a positive step", stepText)
			}
			step = n
		}
		lo, hi := f.lo, f.hi
		if span != "*" {
			a, b, isRange := strings.Cut(span, "-")
			var err error
			if lo, err = value(a); err != nil {
				return nil, err
			}
			hi = lo
			if isRange {
				if hi, err = value(b); err != nil {
					return nil, err
				}
			} else if stepped {
				hi = f.hi
			}
			if lo > hi {
				return nil, fmt.Errorf("the range %q runs backwards", span)
			}
		}
		for v := lo; v <= hi; v += step {
			set[v] = true
		}
	}
	return set, nil
}
