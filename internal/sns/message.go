package sns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// The kinds of error this package returns. Every error from ParseMessage,
// StringToSign, Verify and ParseAlarm wraps exactly one of them, except a
// failure to reach a certificate URL at all, which is transient and wraps
// none; test with errors.Is.
var (
	// ErrMalformed means the message is not a well-formed SNS delivery or
	// alarm document.
	ErrMalformed = errors.New("sns: malformed message")
	// ErrUnsigned means the message carries no signature, or one of an
	// unknown SignatureVersion.
	ErrUnsigned = errors.New("sns: unsigned message")
	// ErrUntrustedCert means the signing certificate URL is not trusted, or
	// what it serves is not a currently valid RSA certificate.
	ErrUntrustedCert = errors.New("sns: untrusted signing certificate")
	// ErrBadSignature means the signature does not match the message.
	ErrBadSignature = errors.New("sns: bad signature")
	// ErrStale means the message's Timestamp is outside the freshness
	// window: older than Verifier.MaxAge, or further ahead than MaxClockSkew.
	ErrStale = errors.New("sns: stale message")
)

// Sizes. SNS messages are at most 256 KiB; the envelope and the JSON escaping
// of the Message string come on top, hence the larger body limit.
const (
	// MaxMessageBytes is the largest Message accepted, in bytes after JSON
	// decoding.
	MaxMessageBytes = 256 << 10
	// MaxBodyBytes is the largest HTTP body (the whole JSON envelope)
	// accepted.
	MaxBodyBytes = 512 << 10
)

// The message types SNS delivers over HTTP(S).
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribeConfirmation  = "UnsubscribeConfirmation"
)

// Message is an SNS HTTP(S) delivery (JSON body).
type Message struct {
	Type             string
	MessageID        string // JSON "MessageId"
	Token            string // confirmations only
	TopicArn         string
	Subject          string // notifications only; see hasSubject
	Message          string
	Timestamp        string // RFC 3339, as signed; Verify checks freshness
	SignatureVersion string
	Signature        string // base64
	SigningCertURL   string // JSON "SigningCertURL", or "SigningCertUrl" in Lambda records
	SubscribeURL     string // confirmations only
	UnsubscribeURL   string // JSON "UnsubscribeURL", or "UnsubscribeUrl"; never signed, never fetched

	// hasSubject records that the Subject key was present, even if empty:
	// a present Subject is part of the string to sign, an absent one is not.
	hasSubject bool
}

// field is how ParseMessage stores one envelope key.
type field struct {
	dst *string
	// types lists the Types the key may appear in; nil means any. A key
	// that would be unsigned in a Type is refused there, so that every
	// field deskpilot acts on is covered by the signature.
	types []string
}

// ParseMessage decodes an SNS HTTP(S) delivery strictly. The body must be
// valid UTF-8 holding exactly one JSON object, at most MaxBodyBytes long,
// with no key given twice. Keys are matched exactly as AWS spells them
// (MessageId, SigningCertURL, SubscribeURL, UnsubscribeURL); the Lambda
// spellings SigningCertUrl and UnsubscribeUrl are accepted too, but not both
// spellings at once. Known keys must hold strings; null counts as absent.
// Unknown keys (MessageAttributes, …) are ignored.
//
// Required, by Type:
//   - Notification: MessageId, TopicArn, Message, Timestamp; Token and
//     SubscribeURL must be absent.
//   - SubscriptionConfirmation, UnsubscribeConfirmation: MessageId, Token,
//     TopicArn, Message, SubscribeURL, Timestamp; Subject must be absent.
//
// Timestamp must be RFC 3339 and Message at most MaxMessageBytes. Signature
// fields are not required here: Verify reports their absence as ErrUnsigned.
// Every error wraps ErrMalformed.
func ParseMessage(body []byte) (Message, error) {
	m, err := parseMessage(body)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m, nil
}

func parseMessage(body []byte) (Message, error) {
	var m Message
	if len(body) > MaxBodyBytes {
		return m, fmt.Errorf("body is %d bytes, more than %d", len(body), MaxBodyBytes)
	}
	if !utf8.Valid(body) {
		return m, errors.New("body is not valid UTF-8")
	}
	notif := []string{TypeNotification}
	confirm := []string{TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation}
	var certURL, certURLLambda, unsubURL, unsubURLLambda string
	fields := map[string]field{
		"Type":             {dst: &m.Type},
		"MessageId":        {dst: &m.MessageID},
		"Token":            {dst: &m.Token, types: confirm},
		"TopicArn":         {dst: &m.TopicArn},
		"Subject":          {dst: &m.Subject, types: notif},
		"Message":          {dst: &m.Message},
		"Timestamp":        {dst: &m.Timestamp},
		"SignatureVersion": {dst: &m.SignatureVersion},
		"Signature":        {dst: &m.Signature},
		"SigningCertURL":   {dst: &certURL},
		"SigningCertUrl":   {dst: &certURLLambda},
		"SubscribeURL":     {dst: &m.SubscribeURL, types: confirm},
		"UnsubscribeURL":   {dst: &unsubURL},
		"UnsubscribeUrl":   {dst: &unsubURLLambda},
	}
	seen := map[string]bool{}    // every key, to refuse duplicates
	present := map[string]bool{} // known keys with a non-null value

	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return m, errors.New("body is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return m, fmt.Errorf("read key: %w", err)
		}
		key := tok.(string) // inside an object, the decoder yields keys as strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return m, fmt.Errorf("read %q: %w", key, err)
		}
		if seen[key] {
			return m, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		f, known := fields[key]
		if !known || string(raw) == "null" {
			continue
		}
		present[key] = true
		if raw[0] != '"' {
			return m, fmt.Errorf("%s is not a string", key)
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return m, fmt.Errorf("read %q: %w", key, err)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return m, errors.New("unterminated JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, errors.New("data after the JSON object")
	}
	switch {
	case present["SigningCertURL"] && present["SigningCertUrl"]:
		return m, errors.New("both SigningCertURL and SigningCertUrl are present")
	case present["UnsubscribeURL"] && present["UnsubscribeUrl"]:
		return m, errors.New("both UnsubscribeURL and UnsubscribeUrl are present")
	}
	m.SigningCertURL = certURL + certURLLambda
	m.UnsubscribeURL = unsubURL + unsubURLLambda
	m.hasSubject = present["Subject"]

	var required []string
	switch m.Type {
	case TypeNotification:
		required = []string{"MessageId", "TopicArn", "Message", "Timestamp"}
	case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
		required = []string{"MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp"}
	case "":
		return m, errors.New("no Type")
	default:
		return m, fmt.Errorf("unknown Type %q", m.Type)
	}
	for key, f := range fields {
		if present[key] && f.types != nil && !contains(f.types, m.Type) {
			return m, fmt.Errorf("%s is not allowed in a %s", key, m.Type)
		}
	}
	for _, key := range required {
		if !present[key] {
			return m, fmt.Errorf("%s has no %s", m.Type, key)
		}
		if key != "Message" && *fields[key].dst == "" {
			return m, fmt.Errorf("%s has an empty %s", m.Type, key)
		}
	}
	if len(m.Message) > MaxMessageBytes {
		return m, fmt.Errorf("Message is %d bytes, more than %d", len(m.Message), MaxMessageBytes)
	}
	if _, err := parseTimestamp(m.Timestamp); err != nil {
		return m, err
	}
	return m, nil
}

// parseTimestamp reads an SNS envelope Timestamp such as
// 2012-04-26T20:45:04.751Z.
func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("Timestamp %q is not RFC 3339", s)
	}
	return t, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// StringToSign returns the text SNS signs for m (aws-semantics.md §5.4 step
// 3): for each signed key of m's Type that is present, in byte order of the
// key names, the key, a newline, the value and a newline.
//
//   - Notification: Message, MessageId, Subject (only if present),
//     Timestamp, TopicArn, Type.
//   - SubscriptionConfirmation and UnsubscribeConfirmation: Message,
//     MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type.
//
// Subject counts as present if the delivery had the key (even with an empty
// value) or if m.Subject is not empty. Leaving out a present Subject is the
// moto bug (aws-semantics.md §0.1 item 9): it makes every alarm
// notification fail verification. An unknown Type is ErrMalformed.
func StringToSign(m Message) (string, error) {
	type kv struct{ k, v string }
	var pairs []kv
	switch m.Type {
	case TypeNotification:
		pairs = []kv{{"Message", m.Message}, {"MessageId", m.MessageID}}
		if m.hasSubject || m.Subject != "" {
			pairs = append(pairs, kv{"Subject", m.Subject})
		}
		pairs = append(pairs, kv{"Timestamp", m.Timestamp}, kv{"TopicArn", m.TopicArn}, kv{"Type", m.Type})
	case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
		pairs = []kv{
			{"Message", m.Message}, {"MessageId", m.MessageID}, {"SubscribeURL", m.SubscribeURL},
			{"Timestamp", m.Timestamp}, {"Token", m.Token}, {"TopicArn", m.TopicArn}, {"Type", m.Type},
		}
	default:
		return "", fmt.Errorf("%w: unknown Type %q", ErrMalformed, m.Type)
	}
	var b strings.Builder
	for _, p := range pairs {
		b.WriteString(p.k)
		b.WriteByte('\n')
		b.WriteString(p.v)
		b.WriteByte('\n')
	}
	return b.String(), nil
}
