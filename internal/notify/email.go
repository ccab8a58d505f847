package notify

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"strings"
	texttemplate "text/template"
	"time"
)

// Headers every email carries, besides Message-ID.
const (
	// HeaderNotice carries Notice.ID, the idempotency key receivers dedupe on.
	HeaderNotice = "X-Deskpilot-Notice"
	// HeaderKind carries Notice.Kind, for mail filters.
	HeaderKind = "X-Deskpilot-Kind"
	// HeaderSeverity carries Notice.Severity, for mail filters.
	HeaderSeverity = "X-Deskpilot-Severity"
)

// Email is a Notice rendered for mail: both a plain-text and an HTML body, so
// that text-only clients, pagers and ticket systems get a readable message.
type Email struct {
	From    string
	To      []string
	Subject string
	Text    string
	HTML    string
	// MessageID is derived from Notice.ID alone, angle brackets included, so a
	// resend after a crash carries the same Message-ID. SMTPSender sends it;
	// SES replaces any Message-ID with its own, so SESSender does not.
	MessageID string
	// Headers are extra header fields: HeaderNotice, HeaderKind,
	// HeaderSeverity and Auto-Submitted (RFC 3834, so that auto-responders
	// stay quiet).
	Headers map[string]string
}

//go:embed templates
var templateFS embed.FS

var (
	textTmpl = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/email.txt.tmpl"))
	htmlTmpl = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/email.html.tmpl"))
)

// RenderEmail renders n as an email from from to every address in to. It
// fails, with an error IsPermanent recognises, when n is invalid or an
// address does not parse. HTML is produced by html/template, so every value
// taken from n is escaped.
func RenderEmail(n Notice, from string, to []string) (Email, error) {
	if err := n.Validate(); err != nil {
		return Email{}, Permanent(err)
	}
	if err := checkAddresses(from, to); err != nil {
		return Email{}, Permanent(err)
	}
	v := newView(n)
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		return Email{}, fmt.Errorf("render text of notice %q: %w", n.ID, err)
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return Email{}, fmt.Errorf("render HTML of notice %q: %w", n.ID, err)
	}
	return Email{
		From:      from,
		To:        append([]string(nil), to...),
		Subject:   v.Subject,
		Text:      text.String(),
		HTML:      html.String(),
		MessageID: MessageID(n.ID),
		Headers: map[string]string{
			HeaderNotice:     n.ID,
			HeaderKind:       n.Kind,
			HeaderSeverity:   severityOf(n),
			"Auto-Submitted": "auto-generated",
		},
	}, nil
}

// MessageID returns the Message-ID, with angle brackets, for the notice with
// the given ID: the first 16 bytes of its SHA-256 in hex, at "deskpilot".
func MessageID(noticeID string) string {
	sum := sha256.Sum256([]byte(noticeID))
	return "<" + hex.EncodeToString(sum[:16]) + "@deskpilot>"
}

func checkAddresses(from string, to []string) error {
	var errs []error
	if _, err := mail.ParseAddress(from); err != nil {
		errs = append(errs, fmt.Errorf("sender address %q: %w", from, err))
	}
	if len(to) == 0 {
		errs = append(errs, errors.New("no recipients"))
	}
	for _, a := range to {
		if _, err := mail.ParseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("recipient address %q: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

// view is what the templates see: the notice plus presentation details that
// are easier to compute in Go than in a template.
type view struct {
	Notice
	Subject  string // n.Subject on one line
	Severity string // never empty
	Label    string // "Info", "Warning", "Error"
	Color    string // badge colour for the HTML part
	When     string // n.Time in UTC, or "" when unset
	// TextFields are n.Fields with names padded to one width and later lines
	// of multi-line values indented under the first.
	TextFields []Field
	Rule       string // underline for the text subject
}

var severityStyle = map[string]struct{ label, color string }{
	SeverityInfo:    {"Info", "#0969da"},
	SeverityWarning: {"Warning", "#9a6700"},
	SeverityError:   {"Error", "#cf222e"},
}

func newView(n Notice) view {
	sev := severityOf(n)
	v := view{
		Notice:   n,
		Subject:  oneLine(n.Subject),
		Severity: sev,
		Label:    severityStyle[sev].label,
		Color:    severityStyle[sev].color,
	}
	v.Rule = strings.Repeat("=", len([]rune(v.Subject)))
	if !n.Time.IsZero() {
		v.When = n.Time.UTC().Format(time.DateTime + " UTC")
	}
	width := 0
	for _, f := range n.Fields {
		width = max(width, len([]rune(f.Name)))
	}
	indent := "\n" + strings.Repeat(" ", width+3)
	for _, f := range n.Fields {
		name := f.Name + ":" + strings.Repeat(" ", width-len([]rune(f.Name)))
		value := strings.ReplaceAll(strings.TrimSpace(f.Value), "\n", indent)
		v.TextFields = append(v.TextFields, Field{Name: name, Value: value})
	}
	return v
}

// oneLine folds line breaks and tabs into spaces, for headers and subjects.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
