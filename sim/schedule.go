package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// Embedded so that Timezone behaves the same on every machine, with or without a system
	// zoneinfo database.
	_ "time/tzdata"
)

// schedule is a parsed Application Auto Scaling Schedule: at(), rate() or cron().
type schedule struct {
	// at is the instant of an at() expression (in its time zone), zero otherwise.
	at time.Time
	// every is the interval of a rate() expression, zero otherwise.
	every time.Duration
	// cron is the parsed cron() expression, nil otherwise.
	cron *cronExpr
}

// Limits of the cron fields, as Application Auto Scaling documents them.
const (
	cronMinYear = 1970
	cronMaxYear = 2199
)

// parseSchedule reads expr in loc (the action's Timezone, UTC by default). It supports
// at(yyyy-mm-ddThh:mm:ss), rate(N minute|minutes|hour|hours|day|days) and the cron() forms
// parseCron lists; anything else is an error whose text explains the problem.
func parseSchedule(expr string, loc *time.Location) (schedule, error) {
	inner := func(prefix string) (string, bool) {
		rest, ok := strings.CutPrefix(expr, prefix+"(")
		if !ok {
			return "", false
		}
		return strings.CutSuffix(rest, ")")
	}
	if v, ok := inner("at"); ok {
		t, err := time.ParseInLocation("2006-01-02T15:04:05", v, loc)
		if err != nil {
			return schedule{}, fmt.Errorf("an at expression must be at(yyyy-mm-ddThh:mm:ss)")
		}
		return schedule{at: t}, nil
	}
	if v, ok := inner("rate"); ok {
		num, unit, ok := strings.Cut(v, " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n <= 0 || strings.HasPrefix(num, "+") {
			return schedule{}, fmt.Errorf("a rate expression must be rate(value unit) with a positive integer value")
		}
		var d time.Duration
		switch unit {
		case "minute", "minutes":
			d = time.Minute
		case "hour", "hours":
			d = time.Hour
		case "day", "days":
			d = 24 * time.Hour
		default:
			return schedule{}, fmt.Errorf("the unit of a rate expression must be minute, minutes, hour, hours, day or days")
		}
		if int64(n) > int64(1<<62)/int64(d) {
			return schedule{}, fmt.Errorf("the rate is too large")
		}
		return schedule{every: time.Duration(n) * d}, nil
	}
	if v, ok := inner("cron"); ok {
		c, err := parseCron(v)
		if err != nil {
			return schedule{}, err
		}
		return schedule{cron: c}, nil
	}
	return schedule{}, fmt.Errorf("a schedule must be an at(), rate() or cron() expression")
}

// next returns the first firing strictly after `after`, within [start, end] (zero bounds are
// open), or false when there is none. Rate expressions count from start when it is given (the
// first firing is at start) and otherwise from created (the first firing is one interval later).
func (sc schedule) next(after, created, start, end time.Time, loc *time.Location) (time.Time, bool) {
	var t time.Time
	switch {
	case !sc.at.IsZero():
		t = sc.at
		if !t.After(after) || t.Before(start) {
			return time.Time{}, false
		}
	case sc.every > 0:
		base := created.Add(sc.every)
		if !start.IsZero() {
			base = start
		}
		t = base
		if !t.After(after) {
			k := after.Sub(base)/sc.every + 1
			t = base.Add(k * sc.every)
		}
	case sc.cron != nil:
		from := after
		if !start.IsZero() && start.Add(-time.Nanosecond).After(from) {
			from = start.Add(-time.Nanosecond)
		}
		var ok bool
		if t, ok = sc.cron.next(from, loc); !ok {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	if !end.IsZero() && t.After(end) {
		return time.Time{}, false
	}
	return t, true
}

// cronExpr is a six-field cron expression: minutes, hours, day of month, month, day of week
// (1 = Sunday), year. Each field is the set of values it admits; exactly one of the two day
// fields is "?" (nil here).
type cronExpr struct {
	minute, hour, dom, month, dow, year []bool
}

type cronFieldSpec struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
	question bool     // "?" is allowed
}

var cronFields = [6]cronFieldSpec{
	{name: "minutes", min: 0, max: 59},
	{name: "hours", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31, question: true},
	{name: "month", min: 1, max: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day-of-week", min: 1, max: 7, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, question: true},
	{name: "year", min: cronMinYear, max: cronMaxYear},
}

// parseCron reads the six fields of a cron() expression. Each field is "*", a value, a range
// "a-b", a step "*/n", "a/n" or "a-b/n", or a comma-separated list of values, ranges and steps.
// Months and days of the week may be named (JAN–DEC, SUN–SAT, any case). The day-of-month and
// day-of-week fields also accept "?", and exactly one of them must be "?". The special
// characters L, W and # are not supported.
func parseCron(expr string) (*cronExpr, error) {
	parts := strings.Fields(expr)
	if len(parts) != 6 {
		return nil, fmt.Errorf("a cron expression needs six fields (minutes hours day-of-month month day-of-week year), got %d", len(parts))
	}
	var sets [6][]bool
	for i, p := range parts {
		set, err := parseCronField(p, cronFields[i])
		if err != nil {
			return nil, err
		}
		sets[i] = set
	}
	if (sets[2] == nil) == (sets[4] == nil) {
		return nil, fmt.Errorf("exactly one of the day-of-month and day-of-week fields must be ?")
	}
	return &cronExpr{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4], year: sets[5]}, nil
}

// parseCronField returns the set of values the field admits, indexed by value; nil for "?".
func parseCronField(field string, spec cronFieldSpec) ([]bool, error) {
	if field == "?" {
		if !spec.question {
			return nil, fmt.Errorf("? is allowed only in the day-of-month and day-of-week fields")
		}
		return nil, nil
	}
	set := make([]bool, spec.max+1)
	value := func(s string) (int, error) {
		for i, n := range spec.names {
			if strings.EqualFold(s, n) {
				return spec.min + i, nil
			}
		}
		n, err := strconv.Atoi(s)
		if err != nil || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("%q is not a supported value in the %s field", s, spec.name)
		}
		if n < spec.min || n > spec.max {
			return 0, fmt.Errorf("%d is out of range in the %s field (%d-%d)", n, spec.name, spec.min, spec.max)
		}
		return n, nil
	}
	for _, item := range strings.Split(field, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 || strings.HasPrefix(stepText, "+") {
				return nil, fmt.Errorf("%q is not a valid step in the %s field", stepText, spec.name)
			}
			step = n
		}
		lo, hi := spec.min, spec.max
		switch a, b, isRange := strings.Cut(rng, "-"); {
		case rng == "*":
		case isRange:
			var err error
			if lo, err = value(a); err != nil {
				return nil, err
			}
			if hi, err = value(b); err != nil {
				return nil, err
			}
			if lo > hi {
				return nil, fmt.Errorf("the range %s in the %s field runs backwards", rng, spec.name)
			}
		default:
			var err error
			if lo, err = value(rng); err != nil {
				return nil, err
			}
			if !hasStep {
				hi = lo
			}
		}
		for v := lo; v <= hi; v += step {
			set[v] = true
		}
	}
	return set, nil
}

// next returns the first instant strictly after `after` whose wall-clock time in loc matches,
// or false when none does before the end of year cronMaxYear. Local times that do not exist
// (skipped by a daylight-saving change) never match.
func (c *cronExpr) next(after time.Time, loc *time.Location) (time.Time, bool) {
	from := after.In(loc).Truncate(time.Minute).Add(time.Minute)
	y, m, d := from.Date()
	for y <= cronMaxYear {
		switch {
		case y < cronMinYear || !c.year[y]:
			y, m, d = y+1, time.January, 1
			continue
		case !c.month[m]:
			y, m, d = dateOf(y, m+1, 1)
			continue
		}
		if c.dayMatches(y, m, d, loc) {
			for h := 0; h < 24; h++ {
				if !c.hour[h] {
					continue
				}
				for mi := 0; mi < 60; mi++ {
					if !c.minute[mi] {
						continue
					}
					t := time.Date(y, m, d, h, mi, 0, 0, loc)
					if t.Day() != d || t.Hour() != h || t.Minute() != mi || t.Before(from) {
						continue
					}
					return t, true
				}
			}
		}
		y, m, d = dateOf(y, m, d+1)
	}
	return time.Time{}, false
}

func (c *cronExpr) dayMatches(y int, m time.Month, d int, loc *time.Location) bool {
	if c.dom != nil {
		return d <= 31 && c.dom[d]
	}
	return c.dow[int(time.Date(y, m, d, 12, 0, 0, 0, loc).Weekday())+1]
}

// dateOf normalises a date (month 13 is January of the next year, day 32 the next month).
func dateOf(y int, m time.Month, d int) (int, time.Month, int) {
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Date()
}
