// Package ses emulates Amazon SES: the v1 query API (2010-12-01) and the SESv2 rest-JSON API
// (2019-09-27), which share one set of identities and one outbox as they do in AWS.
//
// The emulated account is out of the SES sandbox: a sender must be verified, recipients need not
// be. Verification succeeds at once; nothing is ever delivered, every accepted message is kept
// and can be read with Messages.
package ses

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// QueryNamespace is the XML namespace of SES v1 responses.
const QueryNamespace = "http://ses.amazonaws.com/doc/2010-12-01/"

// Limits SES applies to every message, whichever API sent it.
const (
	maxRecipients   = 50
	maxMessageBytes = 10 << 20
)

// Backend holds the state of the emulated SES: verified identities and sent messages. It is safe
// for concurrent use.
type Backend struct {
	now       func() time.Time
	region    string
	accountID string

	mu         sync.Mutex
	identities map[string]*identity // by identityKey
	messages   []Message
}

// New returns an empty SES backend for one account and region. now is the emulator's clock; it
// stamps messages and their ids.
func New(now func() time.Time, region, accountID string) *Backend {
	b := &Backend{now: now, region: region, accountID: accountID}
	b.Reset()
	return b
}

// Reset forgets every identity and every message.
func (b *Backend) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.identities = make(map[string]*identity)
	b.messages = nil
}

// VerifyIdentity adds identity, an email address or (without an @) a domain, as verified. It is
// for seeding the emulator; unlike the API it does not check the name.
func (b *Backend) VerifyIdentity(identity string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addIdentity(identity, kindOf(identity))
}

// Messages returns a copy of every message accepted so far, in send order.
func (b *Backend) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Message, len(b.messages))
	for i, m := range b.messages {
		out[i] = m.clone()
	}
	return out
}

// Message is an email the emulator accepted. Addresses are as the sender wrote them (display
// names included); for raw messages Subject, Text and HTML are decoded from the MIME body and Raw
// holds the message as sent, while for simple messages Raw is empty.
//
// Its JSON form, served by the emulator's control API, is:
//
//	{
//	  "MessageId": "0100018f2b3c4d5e-…-000000",
//	  "Source": "Alerts <alerts@example.com>",
//	  "Destinations": {"ToAddresses": ["ops@example.com"], "CcAddresses": [], "BccAddresses": []},
//	  "Subject": "Fleet updated",
//	  "Text": "…",
//	  "Html": "…",
//	  "Raw": "",
//	  "Time": "2026-05-01T12:00:00Z",
//	  "Api": "ses"
//	}
//
// Time is RFC 3339 in UTC; Api is "ses" (v1) or "sesv2"; the lists are never null.
type Message struct {
	ID      string
	Source  string
	To      []string
	Cc      []string
	Bcc     []string
	Subject string
	Text    string
	HTML    string
	Raw     string
	Time    time.Time
	API     string
}

// messageJSON is the wire form of Message, documented on Message.
type messageJSON struct {
	MessageID    string           `json:"MessageId"`
	Source       string           `json:"Source"`
	Destinations destinationsJSON `json:"Destinations"`
	Subject      string           `json:"Subject"`
	Text         string           `json:"Text"`
	HTML         string           `json:"Html"`
	Raw          string           `json:"Raw"`
	Time         time.Time        `json:"Time"`
	API          string           `json:"Api"`
}

type destinationsJSON struct {
	ToAddresses  []string `json:"ToAddresses"`
	CcAddresses  []string `json:"CcAddresses"`
	BccAddresses []string `json:"BccAddresses"`
}

// MarshalJSON writes the form documented on Message.
func (m Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(messageJSON{
		MessageID: m.ID,
		Source:    m.Source,
		Destinations: destinationsJSON{
			ToAddresses:  nonNil(m.To),
			CcAddresses:  nonNil(m.Cc),
			BccAddresses: nonNil(m.Bcc),
		},
		Subject: m.Subject,
		Text:    m.Text,
		HTML:    m.HTML,
		Raw:     m.Raw,
		Time:    m.Time.UTC(),
		API:     m.API,
	})
}

// UnmarshalJSON reads the form documented on Message.
func (m *Message) UnmarshalJSON(b []byte) error {
	var j messageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Message{
		ID:      j.MessageID,
		Source:  j.Source,
		To:      j.Destinations.ToAddresses,
		Cc:      j.Destinations.CcAddresses,
		Bcc:     j.Destinations.BccAddresses,
		Subject: j.Subject,
		Text:    j.Text,
		HTML:    j.HTML,
		Raw:     j.Raw,
		Time:    j.Time,
		API:     j.API,
	}
	return nil
}

func (m Message) clone() Message {
	m.To = slices.Clone(m.To)
	m.Cc = slices.Clone(m.Cc)
	m.Bcc = slices.Clone(m.Bcc)
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// newMessageID returns an id shaped like SES's: "0100", the send time in milliseconds as 12 hex
// digits, a UUID and "-000000".
func newMessageID(now time.Time) string {
	return fmt.Sprintf("0100%012x-%s-000000", now.UnixMilli(), wire.RequestID())
}

// requestID returns the request id the router put on the response, or sets a new one, so that
// the id in a query response body matches the x-amzn-RequestId header.
func requestID(w http.ResponseWriter) string {
	h := w.Header()
	if id := h.Get("X-Amzn-Requestid"); id != "" {
		return id
	}
	id := wire.RequestID()
	h.Set("X-Amzn-Requestid", id)
	return id
}

// missingMembers builds AWS's error for required members that were not sent, e.g.
// "1 validation error detected: Value null at 'source' failed to satisfy constraint: Member must
// not be null". code is "ValidationError" for the query API and "BadRequestException" for SESv2.
func missingMembers(code string, paths ...string) *wire.Error {
	parts := make([]string, len(paths))
	for i, p := range paths {
		parts[i] = fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", p)
	}
	noun := "error"
	if len(paths) > 1 {
		noun = "errors"
	}
	return wire.Errorf(code, "%d validation %s detected: %s", len(paths), noun, strings.Join(parts, "; "))
}
