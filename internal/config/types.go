package config

import (
	"errors"
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

// UnmarshalYAML implements yaml.Unmarshaler for the list of webhooks. Each is written as its
// URL alone, taking DefaultWebhookFormat, or as a mapping with url and format (format absent or
// null also taking the default); unknown keys in the mapping are errors, as everywhere in the
// file. An entry that fails to decode keeps its place, decoded as far as it can be, so that
// the errors Validate adds name the right entries.
func (l *Webhooks) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		var v []Webhook
		return n.Decode(&v) // the decoder's own error: "want a list, got ..."
	}
	list := make(Webhooks, len(n.Content))
	var errs []string
	for i, item := range n.Content {
		errs = append(errs, list[i].decode(item)...)
	}
	*l = list
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// decode sets w from n and returns the problems found, in the decoder's form.
func (w *Webhook) decode(n *yaml.Node) []string {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	*w = Webhook{Format: DefaultWebhookFormat}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != "!!null" {
			w.URL = n.Value
		}
		return nil
	case yaml.MappingNode:
		// The decoder checks for unknown keys only in what it decodes itself.
		var errs []string
		known := *n
		known.Content = nil
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch k, v := n.Content[i], n.Content[i+1]; k.Value {
			case "url", "format", "<<":
				known.Content = append(known.Content, k, v)
			default:
				errs = append(errs, nodeMessage(v, "unknown key"))
			}
		}
		type plain Webhook // without the list's method
		v := plain(*w)
		if err := known.Decode(&v); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return append(errs, err.Error())
			}
			errs = append(errs, te.Errors...)
		}
		if v.Format == "" {
			v.Format = DefaultWebhookFormat
		}
		*w = Webhook(v)
		return errs
	}
	return []string{nodeMessage(n, "want a URL, or a mapping with url and format")}
}

// nodeError reports msg about the value n as a yaml.TypeError, which the
// decoder collects while it goes on decoding (any other error stops it). The
// line and column let Parse name the key the value belongs to.
func nodeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{nodeMessage(n, msg)}}
}

// nodeMessage is the text of nodeError.
func nodeMessage(n *yaml.Node, msg string) string {
	return fmt.Sprintf("line %d column %d: %s", n.Line, n.Column, msg)
}
