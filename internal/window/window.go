package window

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // zones must resolve on hosts without a zone database
)

// Form is the syntax of a window, shown in parse errors.
const Form = "ddd:hh:mm-ddd:hh:mm[,ddd:hh:mm-ddd:hh:mm...] [IANA time zone]"

// example is shown in parse errors next to Form.
const example = "sun:02:00-sun:05:00 Europe/Berlin"

const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
)

// days are the day names of the syntax, Monday first: a day's index is its
// day of the week counted from Monday = 0.
var days = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// Window is a set of weekly ranges of wall-clock time in one time zone. The
// zero Window has no ranges and never opens; use Parse to make one. A Window
// is immutable and safe to share between goroutines.
type Window struct {
	spans []span         // sorted by start; pairwise neither overlapping nor touching
	loc   *time.Location // nil only in the zero Window
}

// span is one range of a Window, in minutes of the week from Monday 00:00
// wall-clock time.
type span struct {
	start  int // 0 <= start < minutesPerWeek
	length int // 0 < length < minutesPerWeek
}

// end returns the minute of the week at which s closes.
func (s span) end() int { return (s.start + s.length) % minutesPerWeek }

// String formats s as ddd:hh:mm-ddd:hh:mm.
func (s span) String() string { return formatMinute(s.start) + "-" + formatMinute(s.end()) }

func formatMinute(m int) string {
	d, hm := m/minutesPerDay, m%minutesPerDay
	return fmt.Sprintf("%s:%02d:%02d", days[d], hm/60, hm%60)
}

// Parse parses a window written as described in the package documentation,
// for example "sun:02:00-sun:05:00 Europe/Berlin". The error names the part
// that is wrong and shows the expected form.
func Parse(s string) (Window, error) {
	w, err := parse(s)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: %w; want %s, e.g. %q", s, err, Form, example)
	}
	return w, nil
}

// MustParse is like Parse but panics if s is not a valid window. It is meant
// for constants in tests and defaults.
func MustParse(s string) Window {
	w, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return w
}

func parse(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Window{}, errors.New("empty")
	}

	// 1. Split off the zone: the last word, unless it looks like a range.
	spec, zone := s, ""
	if i := strings.LastIndexAny(s, " \t"); i >= 0 && !strings.Contains(s[i+1:], ":") {
		spec, zone = strings.TrimSpace(s[:i]), s[i+1:]
	}
	loc, err := loadZone(zone)
	if err != nil {
		return Window{}, err
	}

	// 2. Parse each range.
	type parsed struct {
		span
		text string
	}
	var ps []parsed
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		sp, err := parseSpan(part)
		if err != nil {
			return Window{}, err
		}
		ps = append(ps, parsed{sp, part})
	}

	// 3. Sort the ranges by start and refuse any that overlap or touch the
	// next one round the week.
	slices.SortFunc(ps, func(a, b parsed) int { return a.start - b.start })
	for i := 0; len(ps) > 1 && i < len(ps); i++ {
		a, b := ps[i], ps[(i+1)%len(ps)]
		next := b.start
		if i == len(ps)-1 {
			next += minutesPerWeek
		}
		switch aEnd := a.start + a.length; {
		case aEnd > next:
			return Window{}, fmt.Errorf("ranges %q and %q overlap", a.text, b.text)
		case aEnd == next:
			return Window{}, fmt.Errorf("ranges %q and %q touch; merge them into one range", a.text, b.text)
		}
	}

	w := Window{spans: make([]span, len(ps)), loc: loc}
	for i, p := range ps {
		w.spans[i] = p.span
	}
	return w, nil
}

// loadZone loads the named IANA zone; the empty name means UTC.
func loadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return time.UTC, nil
	case "Local":
		return nil, errors.New(`time zone "Local" depends on the host; name an IANA zone such as Europe/Berlin`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Berlin or America/New_York)", name)
	}
	return loc, nil
}

// parseSpan parses one range, ddd:hh:mm-ddd:hh:mm.
func parseSpan(s string) (span, error) {
	if s == "" {
		return span{}, errors.New("empty range")
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return span{}, fmt.Errorf("range %q: no '-' between start and end", s)
	}
	start, err := parseMinute(from)
	if err != nil {
		return span{}, fmt.Errorf("range %q: %w", s, err)
	}
	end, err := parseMinute(to)
	if err != nil {
		return span{}, fmt.Errorf("range %q: %w", s, err)
	}
	length := (end - start + minutesPerWeek) % minutesPerWeek
	if length == 0 {
		return span{}, fmt.Errorf("range %q: start equals end, so it has zero length", s)
	}
	return span{start: start, length: length}, nil
}

// parseMinute parses ddd:hh:mm into a minute of the week from Monday 00:00.
func parseMinute(s string) (int, error) {
	day, hm, ok := strings.Cut(s, ":")
	if !ok || len(hm) != 5 || hm[2] != ':' {
		return 0, fmt.Errorf("%q is not ddd:hh:mm", s)
	}
	d := slices.Index(days[:], strings.ToLower(day))
	if d < 0 {
		return 0, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", day)
	}
	h, okH := twoDigits(hm[:2])
	m, okM := twoDigits(hm[3:])
	if !okH || !okM || h > 23 || m > 59 {
		return 0, fmt.Errorf("bad time %q (want hh:mm from 00:00 to 23:59)", hm)
	}
	return d*minutesPerDay + h*60 + m, nil
}

func twoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// String returns w in canonical form, which Parse turns back into an equal
// Window: lower case, ranges ordered by their start from Monday 00:00,
// separated by commas without spaces, then the zone unless it is UTC. The zero
// Window gives "".
func (w Window) String() string {
	var b strings.Builder
	for i, sp := range w.spans {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(sp.String())
	}
	if !w.IsZero() && w.loc.String() != "UTC" {
		b.WriteByte(' ')
		b.WriteString(w.loc.String())
	}
	return b.String()
}

// Location returns the time zone of w's wall-clock times: UTC if Parse was
// given no zone, and also for the zero Window.
func (w Window) Location() *time.Location {
	if w.loc == nil {
		return time.UTC
	}
	return w.loc
}

// IsZero reports whether w is the zero Window, which never opens.
func (w Window) IsZero() bool { return len(w.spans) == 0 }

// Equal reports whether w and o have the same ranges in the same zone (by
// name). go-cmp uses it to compare Windows.
func (w Window) Equal(o Window) bool {
	return slices.Equal(w.spans, o.spans) && w.Location().String() == o.Location().String()
}

// MarshalText implements encoding.TextMarshaler with the canonical form. The
// zero Window is an error, as UnmarshalText could not read it back; with
// go.yaml.in/yaml/v3, mark an optional window `omitempty` (it honours IsZero).
func (w Window) MarshalText() ([]byte, error) {
	if w.IsZero() {
		return nil, errors.New("window: cannot marshal the zero Window")
	}
	return []byte(w.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (w *Window) UnmarshalText(text []byte) error {
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*w = v
	return nil
}
