package window

import (
	"encoding"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	_ encoding.TextMarshaler   = Window{}
	_ encoding.TextUnmarshaler = (*Window)(nil)
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // canonical form
		zone string
	}{
		{"utc", "sun:02:00-sun:05:00", "sun:02:00-sun:05:00", "UTC"},
		{"zone", "sun:02:00-sun:05:00 Europe/Berlin", "sun:02:00-sun:05:00 Europe/Berlin", "Europe/Berlin"},
		{"explicit UTC is omitted", "sun:02:00-sun:05:00 UTC", "sun:02:00-sun:05:00", "UTC"},
		{"case-insensitive days", "SUN:02:00-Sun:05:00", "sun:02:00-sun:05:00", "UTC"},
		{"trimmed", "  \tsun:02:00-sun:05:00  Europe/Berlin \n", "sun:02:00-sun:05:00 Europe/Berlin", "Europe/Berlin"},
		{"wraps midnight", "sat:22:00-sun:01:00", "sat:22:00-sun:01:00", "UTC"},
		{"wraps week", "sun:23:00-mon:01:00", "sun:23:00-mon:01:00", "UTC"},
		{"almost a week", "mon:05:00-mon:04:59", "mon:05:00-mon:04:59", "UTC"},
		{"one minute", "wed:23:59-thu:00:00", "wed:23:59-thu:00:00", "UTC"},
		{"whole day", "fri:00:00-sat:00:00", "fri:00:00-sat:00:00", "UTC"},
		{"several, sorted from monday", "sat:22:00-sun:01:00,wed:22:00-wed:23:30 America/New_York",
			"wed:22:00-wed:23:30,sat:22:00-sun:01:00 America/New_York", "America/New_York"},
		{"space around commas", "sat:22:00-sun:01:00 , wed:22:00-wed:23:30", "wed:22:00-wed:23:30,sat:22:00-sun:01:00", "UTC"},
		{"space after comma, zone", "sat:22:00-sun:01:00, wed:22:00-wed:23:30 Asia/Tokyo", "wed:22:00-wed:23:30,sat:22:00-sun:01:00 Asia/Tokyo", "Asia/Tokyo"},
		{"one gap minute between ranges", "mon:01:00-mon:02:00,mon:02:01-mon:03:00", "mon:01:00-mon:02:00,mon:02:01-mon:03:00", "UTC"},
		{"wrapping range beside monday range", "sun:23:00-mon:01:00,mon:01:01-mon:02:00", "mon:01:01-mon:02:00,sun:23:00-mon:01:00", "UTC"},
		{"half-hour zone", "thu:03:00-thu:04:00 Australia/Lord_Howe", "thu:03:00-thu:04:00 Australia/Lord_Howe", "Australia/Lord_Howe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := w.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			if got := w.Location().String(); got != tt.zone {
				t.Errorf("Parse(%q).Location() = %q, want %q", tt.in, got, tt.zone)
			}
			if w.IsZero() {
				t.Errorf("Parse(%q).IsZero() = true", tt.in)
			}
			again, err := Parse(w.String())
			if err != nil {
				t.Fatalf("Parse(%q) (round trip): %v", w.String(), err)
			}
			if diff := cmp.Diff(w, again); diff != "" {
				t.Errorf("round trip through String (-first +second):\n%s", diff)
			}
		})
	}
}

func TestParse_errors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error, besides the expected form
	}{
		{"empty", "", []string{"empty"}},
		{"blank", "   ", []string{"empty"}},
		{"unknown day", "sunday:02:00-sun:05:00", []string{`unknown day "sunday"`}},
		{"unknown day at end", "sun:02:00-xyz:05:00", []string{`unknown day "xyz"`, `range "sun:02:00-xyz:05:00"`}},
		{"hour 24", "sun:24:00-mon:01:00", []string{`bad time "24:00"`}},
		{"minute 60", "sun:02:60-sun:05:00", []string{`bad time "02:60"`}},
		{"one-digit hour", "sun:2:00-sun:05:00", []string{`"sun:2:00" is not ddd:hh:mm`}},
		{"signed digits", "sun:+2:00-sun:05:00", []string{`bad time "+2:00"`}},
		{"no dash", "sun:02:00", []string{`no '-'`}},
		{"seconds", "sun:02:00:00-sun:05:00:00", []string{`is not ddd:hh:mm`}},
		{"zero length", "sun:02:00-sun:02:00", []string{"zero length", `"sun:02:00-sun:02:00"`}},
		{"zero length, case differs", "SUN:02:00-sun:02:00", []string{"zero length"}},
		{"unknown zone", "sun:02:00-sun:05:00 Mars/Olympus", []string{`unknown time zone "Mars/Olympus"`}},
		{"zone lower case", "sun:02:00-sun:05:00 europe/berlin", []string{`unknown time zone "europe/berlin"`}},
		{"zone path", "sun:02:00-sun:05:00 ../../etc/passwd", []string{`unknown time zone`}},
		{"local zone", "sun:02:00-sun:05:00 Local", []string{`"Local" depends on the host`}},
		{"two zones", "sun:02:00-sun:05:00 Europe/Berlin UTC", []string{`range "sun:02:00-sun:05:00 Europe/Berlin"`}},
		{"spaces inside range", "sun:02:00 - sun:05:00", []string{`range "sun:02:00 - sun:05:00"`}},
		{"empty range", "sun:02:00-sun:05:00,", []string{"empty range"}},
		{"only a zone", "Europe/Berlin", []string{`range "Europe/Berlin"`}},
		{"overlap", "sun:02:00-sun:05:00,sun:04:00-sun:06:00", []string{`ranges "sun:02:00-sun:05:00" and "sun:04:00-sun:06:00" overlap`}},
		{"same range twice", "sun:02:00-sun:05:00,sun:02:00-sun:05:00", []string{"overlap"}},
		{"contained", "mon:00:00-fri:00:00,wed:01:00-wed:02:00", []string{"overlap"}},
		{"overlap across week end", "sat:22:00-mon:01:00,mon:00:30-mon:02:00", []string{`ranges "sat:22:00-mon:01:00" and "mon:00:30-mon:02:00" overlap`}},
		{"touch", "mon:01:00-mon:02:00,mon:02:00-mon:03:00", []string{"touch", "merge them"}},
		{"touch across week end", "sun:22:00-mon:00:00,mon:00:00-mon:01:00", []string{"touch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tt.in, w)
			}
			msg := err.Error()
			for _, want := range append(tt.want, Form, "sun:02:00-sun:05:00 Europe/Berlin") {
				if !strings.Contains(msg, want) {
					t.Errorf("Parse(%q) error %q does not contain %q", tt.in, msg, want)
				}
			}
			if !w.IsZero() {
				t.Errorf("Parse(%q) returned a non-zero Window with its error", tt.in)
			}
		})
	}
}

func TestMustParse(t *testing.T) {
	if got := MustParse("tue:01:00-tue:02:00").String(); got != "tue:01:00-tue:02:00" {
		t.Errorf("MustParse = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParse of a bad window did not panic")
		}
	}()
	MustParse("tue:01:00-tue:01:00")
}

func TestWindow_zero(t *testing.T) {
	var w Window
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if !w.IsZero() {
		t.Error("IsZero() = false")
	}
	if w.String() != "" {
		t.Errorf("String() = %q", w.String())
	}
	if w.Location() != time.UTC {
		t.Errorf("Location() = %v", w.Location())
	}
	if _, _, open := w.OpenAt(now); open {
		t.Error("OpenAt: open")
	}
	if s, e := w.Next(now); !s.IsZero() || !e.IsZero() {
		t.Errorf("Next = %v, %v; want zero Times", s, e)
	}
	if s, e := w.Schedule(now, 0); !s.IsZero() || !e.IsZero() {
		t.Errorf("Schedule = %v, %v; want zero Times", s, e)
	}
	if _, err := w.MarshalText(); err == nil {
		t.Error("MarshalText of the zero Window: no error")
	}
}

func TestWindow_Equal(t *testing.T) {
	a := MustParse("sun:02:00-sun:05:00 Europe/Berlin")
	for _, tt := range []struct {
		other string
		want  bool
	}{
		{"SUN:02:00-SUN:05:00 Europe/Berlin", true},
		{"sun:02:00-sun:05:00 Europe/Paris", false},
		{"sun:02:00-sun:05:00", false},
		{"sun:02:00-sun:05:01 Europe/Berlin", false},
		{"sun:02:00-sun:05:00,mon:02:00-mon:05:00 Europe/Berlin", false},
	} {
		if got := a.Equal(MustParse(tt.other)); got != tt.want {
			t.Errorf("%q.Equal(%q) = %v, want %v", a, tt.other, got, tt.want)
		}
	}
	if !(Window{}).Equal(Window{}) || a.Equal(Window{}) {
		t.Error("Equal with the zero Window is wrong")
	}
}

func TestWindow_Text(t *testing.T) {
	type config struct {
		Window Window
	}
	in := " sat:22:00-sun:01:00, wed:22:00-wed:23:30 America/New_York"
	var c config
	if err := c.Window.UnmarshalText([]byte(in)); err != nil {
		t.Fatalf("UnmarshalText(%q): %v", in, err)
	}
	text, err := c.Window.MarshalText()
	if err != nil {
		t.Fatalf("MarshalText: %v", err)
	}
	if want := "wed:22:00-wed:23:30,sat:22:00-sun:01:00 America/New_York"; string(text) != want {
		t.Errorf("MarshalText = %q, want %q", text, want)
	}
	var back Window
	if err := back.UnmarshalText(text); err != nil {
		t.Fatalf("UnmarshalText(%q): %v", text, err)
	}
	if diff := cmp.Diff(c.Window, back); diff != "" {
		t.Errorf("text round trip (-want +got):\n%s", diff)
	}

	// A failed UnmarshalText leaves the Window as it was.
	if err := back.UnmarshalText([]byte("sun:02:00-sun:02:00")); err == nil {
		t.Error("UnmarshalText of a zero-length range: no error")
	}
	if diff := cmp.Diff(c.Window, back); diff != "" {
		t.Errorf("failed UnmarshalText changed the Window (-want +got):\n%s", diff)
	}
}
