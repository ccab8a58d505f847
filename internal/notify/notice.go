package notify

import "github.com/deskpilot/deskpilot/internal/notice"

// The notice types live in package notice so that controllers can build them without importing
// senders; these aliases keep notify's API self-contained.
type (
	Notice = notice.Notice
	Field  = notice.Field
	Item   = notice.Item
)

// Severities a Notice can carry. An empty Severity is treated as SeverityInfo.
const (
	SeverityInfo    = notice.SeverityInfo
	SeverityWarning = notice.SeverityWarning
	SeverityError   = notice.SeverityError
)

const maxIDLen = notice.MaxIDLen

// severityOf returns n.Severity with the empty value read as SeverityInfo.
func severityOf(n Notice) string {
	if n.Severity == "" {
		return SeverityInfo
	}
	return n.Severity
}
