package ses

import (
	"strings"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// The values of Message.API.
const (
	apiV1 = "ses"
	apiV2 = "sesv2"
)

// email is a message as a send operation received it, before SES's checks.
type email struct {
	api         string // apiV1 or apiV2: decides the error codes
	source      string // Source / FromEmailAddress, or the raw message's From header
	to, cc, bcc []string
	replyTo     []string
	subject     string
	text, html  string
	raw         string
}

// invalid returns the error the email's API uses for a malformed value: InvalidParameterValue in
// v1, BadRequestException in SESv2.
func (e *email) invalid(format string, args ...any) *wire.Error {
	if e.api == apiV2 {
		return wire.Errorf("BadRequestException", format, args...)
	}
	return wire.Errorf("InvalidParameterValue", format, args...)
}

func (e *email) size() int {
	if e.raw != "" {
		return len(e.raw)
	}
	return len(e.subject) + len(e.text) + len(e.html)
}

// tooLarge is SES's answer to a message over 10 MB, or nil.
func tooLarge(size int) *wire.Error {
	if size <= maxMessageBytes {
		return nil
	}
	return wire.Errorf("MessageRejected", "Message length is more than %d bytes long: '%d'.", maxMessageBytes, size)
}

// send applies the checks SES makes of every message, then keeps it and returns its id:
//  1. the message is at most 10 MB;
//  2. every address is well formed (one bad recipient rejects the whole message);
//  3. there are between 1 and 50 recipients across To, Cc and Bcc;
//  4. the sender is a verified address or in a verified domain.
func (b *Backend) send(e email) (string, *wire.Error) {
	if err := tooLarge(e.size()); err != nil {
		return "", err
	}
	sender, problem := checkAddress(e.source)
	if problem != "" {
		return "", e.invalid("%s", problem)
	}
	for _, list := range [][]string{e.to, e.cc, e.bcc, e.replyTo} {
		for _, a := range list {
			if _, problem := checkAddress(a); problem != "" {
				return "", e.invalid("%s", problem)
			}
		}
	}
	switch n := len(e.to) + len(e.cc) + len(e.bcc); {
	case n == 0:
		return "", wire.Errorf("MessageRejected", "There are no recipients specified.")
	case n > maxRecipients:
		return "", wire.Errorf("MessageRejected", "Recipient count exceeds %d.", maxRecipients)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.verified(sender) {
		return "", wire.Errorf("MessageRejected",
			"Email address is not verified. The following identities failed the check in region %s: %s",
			strings.ToUpper(b.region), sender)
	}
	now := b.now()
	m := Message{
		ID:      newMessageID(now),
		Source:  e.source,
		To:      e.to,
		Cc:      e.cc,
		Bcc:     e.bcc,
		Subject: e.subject,
		Text:    e.text,
		HTML:    e.html,
		Raw:     e.raw,
		Time:    now,
		API:     e.api,
	}
	b.messages = append(b.messages, m.clone())
	return m.ID, nil
}

// rawEmail reads a raw MIME message. source and destinations are the request's optional
// envelope: without source the sender is the From header, and without destinations the
// recipients are the To, Cc and Bcc headers.
func rawEmail(api, source string, destinations []string, data []byte) (email, *wire.Error) {
	e := email{api: api, source: source, raw: string(data)}
	if err := tooLarge(len(data)); err != nil {
		return e, err
	}
	m, err := parseMIME(data)
	if err != nil {
		return e, e.invalid("Illegal raw message: %v", err)
	}
	e.subject, e.text, e.html = m.subject, m.text, m.html
	if e.source == "" {
		if m.from == "" {
			return e, e.invalid("Missing required header 'From'.")
		}
		e.source = m.from
	}
	if len(destinations) == 0 {
		e.to, e.cc, e.bcc = m.to, m.cc, m.bcc
	} else {
		e.to, e.cc, e.bcc = sortRecipients(destinations, m.to, m.cc)
	}
	return e, nil
}

// sortRecipients files each envelope recipient under To or Cc when a header names it, and under
// Bcc otherwise, so that Message says who received the message and how it was addressed to them.
func sortRecipients(envelope, toHeader, ccHeader []string) (to, cc, bcc []string) {
	for _, r := range envelope {
		switch {
		case containsAddress(toHeader, r):
			to = append(to, r)
		case containsAddress(ccHeader, r):
			cc = append(cc, r)
		default:
			bcc = append(bcc, r)
		}
	}
	return to, cc, bcc
}

// containsAddress reports whether list holds addr, comparing bare addresses without case.
func containsAddress(list []string, addr string) bool {
	want := bareAddress(addr)
	for _, a := range list {
		if strings.EqualFold(bareAddress(a), want) {
			return true
		}
	}
	return false
}

func bareAddress(s string) string {
	if a, problem := checkAddress(s); problem == "" {
		return a
	}
	return s
}
