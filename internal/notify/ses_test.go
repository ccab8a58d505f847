package notify

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// fakeSES captures SendEmail inputs. It checks only the shape of what we
// send; the lead's emulator test covers the wire.
type fakeSES struct {
	inputs []*sesv2.SendEmailInput
	err    error
}

func (f *fakeSES) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	f.inputs = append(f.inputs, in)
	if f.err != nil {
		return nil, f.err
	}
	return &sesv2.SendEmailOutput{MessageId: aws.String("0100-ses")}, nil
}

func TestSESSender_Send(t *testing.T) {
	api := &fakeSES{}
	s := NewSES(api, "deskpilot@example.com", []string{"ops@example.com", "oncall@example.com"})
	if s.Name() != "ses" {
		t.Errorf("Name() = %q, want ses", s.Name())
	}
	n := pendingNotice()
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	e, err := RenderEmail(n, "deskpilot@example.com", []string{"ops@example.com", "oncall@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	utf8 := aws.String("UTF-8")
	want := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("deskpilot@example.com"),
		Destination:      &types.Destination{ToAddresses: []string{"ops@example.com", "oncall@example.com"}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(n.Subject), Charset: utf8},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(e.Text), Charset: utf8},
				Html: &types.Content{Data: aws.String(e.HTML), Charset: utf8},
			},
			Headers: []types.MessageHeader{
				{Name: aws.String("Auto-Submitted"), Value: aws.String("auto-generated")},
				{Name: aws.String("X-Deskpilot-Kind"), Value: aws.String("rollout.pending")},
				{Name: aws.String("X-Deskpilot-Notice"), Value: aws.String("rollout/42/pending")},
				{Name: aws.String("X-Deskpilot-Severity"), Value: aws.String("warning")},
			},
		}},
	}
	if len(api.inputs) != 1 {
		t.Fatalf("SendEmail called %d times, want 1", len(api.inputs))
	}
	if diff := cmp.Diff(want, api.inputs[0], cmpopts.IgnoreUnexported(
		sesv2.SendEmailInput{}, types.Destination{}, types.EmailContent{}, types.Message{},
		types.Content{}, types.Body{}, types.MessageHeader{})); diff != "" {
		t.Errorf("SendEmailInput mismatch (-want +got):\n%s", diff)
	}
}

func TestSESSender_Errors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		class     fault.Class
		permanent bool
	}{
		{"message rejected", &types.MessageRejected{Message: aws.String("Email address is not verified.")}, fault.Invalid, true},
		{"bad request", &types.BadRequestException{Message: aws.String("bad")}, fault.Invalid, true},
		{"not found", &types.NotFoundException{Message: aws.String("no configuration set")}, fault.NotFound, true},
		// An operator clears these without touching the message: the mail waits for them.
		{"mail from not verified", &types.MailFromDomainNotVerifiedException{}, fault.Denied, false},
		{"account suspended", &types.AccountSuspendedException{}, fault.Denied, false},
		{"sending paused", &types.SendingPausedException{}, fault.Denied, false},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}, fault.Denied, false},
		{"expired credentials", &smithy.GenericAPIError{Code: "ExpiredTokenException", Fault: smithy.FaultClient}, fault.Denied, false},
		{"throttled", &types.TooManyRequestsException{}, fault.Throttled, false},
		{"daily quota", &types.LimitExceededException{}, fault.Throttled, false},
		{"internal", &types.InternalServiceErrorException{}, fault.Transient, false},
		{"generic 5xx", &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}, fault.Transient, false},
		{"throttling code", &smithy.GenericAPIError{Code: "Throttling", Fault: smithy.FaultClient}, fault.Throttled, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSES(&fakeSES{err: tc.err}, "d@example.com", []string{"o@example.com"})
			err := s.Send(context.Background(), pendingNotice())
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := fault.Classify(err); got != tc.class {
				t.Errorf("Classify(%v) = %s, want %s", err, got, tc.class)
			}
			if got := IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
		})
	}
}

// A resend must be recognisable: SES keeps custom headers but replaces any Message-ID, so the
// notice's ID travels in X-Deskpilot-Notice, the same on every send.
func TestSESSender_ResendCarriesNoticeID(t *testing.T) {
	api := &fakeSES{}
	s := NewSES(api, "d@example.com", []string{"o@example.com"})
	n := pendingNotice()
	for range 2 {
		if err := s.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if len(api.inputs) != 2 {
		t.Fatalf("SendEmail called %d times, want 2", len(api.inputs))
	}
	for i, in := range api.inputs {
		headers := map[string]string{}
		for _, h := range in.Content.Simple.Headers {
			headers[aws.ToString(h.Name)] = aws.ToString(h.Value)
		}
		if got := headers[HeaderNotice]; got != n.ID {
			t.Errorf("send %d: %s = %q, want %q", i+1, HeaderNotice, got, n.ID)
		}
		if _, ok := headers["Message-ID"]; ok {
			t.Errorf("send %d: Simple.Headers names Message-ID, which SES refuses for Simple content", i+1)
		}
	}
}

func TestSESSender_InvalidRecipient(t *testing.T) {
	api := &fakeSES{}
	err := NewSES(api, "d@example.com", []string{"not-an-address"}).Send(context.Background(), pendingNotice())
	if !IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = false, want true", err)
	}
	if len(api.inputs) != 0 {
		t.Error("SendEmail called for an unsendable notice")
	}
}
