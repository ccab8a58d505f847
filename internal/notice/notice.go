// Package notice holds what admins are told, as plain values: controllers build Notices and
// the notify package renders and sends them. It has no dependencies so that domain packages
// can build notices without importing a sender.
package notice

import (
	"errors"
	"fmt"
	"time"
)

// Severities a Notice can carry. An empty Severity is treated as SeverityInfo.
const (
	SeverityInfo    = "info"
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// maxIDLen bounds Notice.ID, which travels in mail headers (SES allows 870
// characters per header value) and in outbox rows.
const maxIDLen = 200

// Notice is one thing admins are told. Controllers build it; notify renders
// and sends it.
//
// The JSON form (field names in lower case) is the one the webhook posts and
// the one the store may use to persist a Delivery.
type Notice struct {
	// ID is a stable idempotency key such as "rollout/42/pending". The same
	// Notice sent twice carries the same ID (and so the same Message-ID), so
	// receivers can recognise the duplicate. Printable ASCII, no spaces.
	ID string `json:"id"`
	// Kind names what happened, e.g. "rollout.pending" or "workspaces.digest".
	// Printable ASCII, no spaces.
	Kind string `json:"kind"`
	// Severity is SeverityInfo, SeverityWarning or SeverityError.
	Severity string `json:"severity"`
	// Subject is the one-line headline (mail subject).
	Subject string `json:"subject"`
	// Summary is one or two sentences of plain text.
	Summary string `json:"summary"`
	// Fields are ordered name/value pairs shown as a table, e.g. Image,
	// Fleets, Window (UTC), How to cancel.
	Fields []Field `json:"fields"`
	// Items are optional per-fleet or per-WorkSpace rows.
	Items []Item `json:"items"`
	// Time is when the event happened; it is also the mail's Date, so a
	// resend carries the same date.
	Time time.Time `json:"time"`
}

// Field is one row of a Notice's table.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Item is one per-resource row of a Notice, such as a fleet and its status.
type Item struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Validate reports whether n can be rendered and sent. A Notice that fails
// validation never becomes sendable, so senders return its error as permanent.
func (n Notice) Validate() error {
	var errs []error
	if err := checkToken("ID", n.ID); err != nil {
		errs = append(errs, err)
	}
	if err := checkToken("kind", n.Kind); err != nil {
		errs = append(errs, fmt.Errorf("notice %q: %w", n.ID, err))
	}
	switch n.Severity {
	case "", SeverityInfo, SeverityWarning, SeverityError:
	default:
		errs = append(errs, fmt.Errorf("notice %q has unknown severity %q", n.ID, n.Severity))
	}
	if n.Subject == "" {
		errs = append(errs, fmt.Errorf("notice %q has no subject", n.ID))
	}
	return errors.Join(errs...)
}

// checkToken checks a value that travels in mail headers and outbox rows:
// non-empty, at most maxIDLen bytes, printable ASCII without spaces.
func checkToken(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("notice has no %s", what)
	case len(v) > maxIDLen:
		return fmt.Errorf("notice %s is %d bytes long, more than %d", what, len(v), maxIDLen)
	}
	for _, r := range v {
		if r < '!' || r > '~' {
			return fmt.Errorf("notice %s %q must be printable ASCII without spaces", what, v)
		}
	}
	return nil
}

// MaxIDLen bounds Notice.ID, which travels in mail headers and outbox rows.
const MaxIDLen = maxIDLen
