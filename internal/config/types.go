package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/deskpilot/deskpilot/internal/window"
)

// Duration is a time.Duration written in the file as Go writes durations:
// "90s", "15m", "2h", "1h30m". A bare number is refused, because a count of
// seconds and a count of minutes look alike.
type Duration struct{ time.Duration }

// String formats d like time.Duration.String without trailing zero units:
// "1m" rather than "1m0s", "2h" rather than "2h0m0s".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText implements encoding.TextMarshaler with String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with time.ParseDuration.
// Negative durations are read; Validate refuses them where they make no sense.
func (d *Duration) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	v, err := time.ParseDuration(s)
	if err != nil {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			return fmt.Errorf("%q has no unit; write %ss, %sm or %sh", s, s, s, s)
		}
		return fmt.Errorf("%q is not a duration; want e.g. 90s, 15m or 2h", s)
	}
	d.Duration = v
	return nil
}

// MarshalYAML implements yaml.Marshaler with String.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler with UnmarshalText. A bad value
// is reported as a type error, so the decoder goes on to find the file's
// other mistakes.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "want a duration such as 90s, 15m or 2h")
	}
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return nodeError(n, err.Error())
	}
	return nil
}

// Window is a maintenance window (see package window for the syntax), written
// in the file as text such as "sun:02:00-sun:05:00 Europe/Berlin". Unlike a
// window.Window it may be written empty: the zero Window, which never opens,
// reads and writes as "". Where a window is required, Validate says so.
type Window struct{ window.Window }

// MarshalText implements encoding.TextMarshaler with the canonical form of
// the window, and "" for the zero Window.
func (w Window) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with window.Parse; empty
// or blank text gives the zero Window.
func (w *Window) UnmarshalText(text []byte) error {
	if strings.TrimSpace(string(text)) == "" {
		*w = Window{}
		return nil
	}
	v, err := window.Parse(string(text))
	if err != nil {
		return err
	}
	*w = Window{v}
	return nil
}

// MarshalYAML implements yaml.Marshaler like MarshalText.
func (w Window) MarshalYAML() (any, error) { return w.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler with UnmarshalText. A bad window
// is reported as a type error, so the decoder goes on to find the file's
// other mistakes.
func (w *Window) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, fmt.Sprintf("want a window such as %q", DefaultWindow+" Europe/Berlin"))
	}
	if err := w.UnmarshalText([]byte(n.Value)); err != nil {
		return nodeError(n, err.Error())
	}
	return nil
}

// nodeError reports msg about the value n as a yaml.TypeError, which the
// decoder collects while it goes on decoding (any other error stops it). The
// line and column let Parse name the key the value belongs to.
func nodeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d column %d: %s", n.Line, n.Column, msg)}}
}
