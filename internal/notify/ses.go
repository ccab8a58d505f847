package notify

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// SESAPI is the one SES v2 call SESSender makes; *sesv2.Client satisfies it.
type SESAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ SESAPI = (*sesv2.Client)(nil)

// SESSender sends notices as mail through Amazon SES v2.
type SESSender struct {
	api  SESAPI
	from string
	to   []string
}

var _ Sender = (*SESSender)(nil)

// NewSES returns a sender that mails every notice from from (an identity
// verified in SES) to each address in to. Addresses are checked when a notice
// is sent, and a bad one is a permanent error.
func NewSES(api SESAPI, from string, to []string) *SESSender {
	return &SESSender{api: api, from: from, to: append([]string(nil), to...)}
}

// Name returns "ses".
func (s *SESSender) Name() string { return "ses" }

// Send renders n and sends it as a Simple message with a text and an HTML
// body, and HeaderNotice (with the other Email.Headers) in Simple.Headers, so
// a resend carries the same X-Deskpilot-Notice for receivers to dedupe on.
// It sends no Message-ID: SES gives every message its own and overrides one
// supplied in a raw message (Simple content may not name one at all), so
// MessageID(n.ID) could not reach the receiver whichever content type we used.
//
// Errors are SES's own; fault.Classify sorts them by AWS error code.
func (s *SESSender) Send(ctx context.Context, n Notice) error {
	e, err := RenderEmail(n, s.from, s.to)
	if err != nil {
		return fmt.Errorf("ses: %w", err)
	}
	if _, err := s.api.SendEmail(ctx, sesInput(e)); err != nil {
		return fmt.Errorf("ses: send notice %q: %w", n.ID, err)
	}
	return nil
}

func sesInput(e Email) *sesv2.SendEmailInput {
	utf8 := "UTF-8"
	content := func(s string) *types.Content { return &types.Content{Data: &s, Charset: &utf8} }
	names := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	headers := make([]types.MessageHeader, 0, len(names))
	for _, k := range names {
		headers = append(headers, types.MessageHeader{Name: &k, Value: new(e.Headers[k])})
	}
	return &sesv2.SendEmailInput{
		FromEmailAddress: &e.From,
		Destination:      &types.Destination{ToAddresses: e.To},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: content(e.Subject),
			Body:    &types.Body{Text: content(e.Text), Html: content(e.HTML)},
			Headers: headers,
		}},
	}
}
