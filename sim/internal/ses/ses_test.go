package ses_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	v2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/deskpilot/deskpilot/sim/internal/ses"
)

var sendTime = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture is a Backend behind an HTTP server routed like the sim's, with real SDK clients.
type fixture struct {
	backend *ses.Backend
	url     string
	v1      *awsses.Client
	v2      *sesv2.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	b := ses.New(func() time.Time { return sendTime }, "us-east-1", "123456789012")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/email/") {
			b.ServeV2(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.ServeQuery(w, r)
	}))
	t.Cleanup(srv.Close)
	creds := credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")
	return &fixture{
		backend: b,
		url:     srv.URL,
		v1: awsses.New(awsses.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1,
		}),
		v2: sesv2.New(sesv2.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds, RetryMaxAttempts: 1,
		}),
	}
}

// errorCode returns the AWS error code of err, or fails the test if err is not an API error.
func errorCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v, want an AWS API error", err)
	}
	return apiErr.ErrorCode()
}

var messageID = regexp.MustCompile(`^0100[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-000000$`)

// checkMessages compares the backend's outbox with want, checking ids by shape only.
func checkMessages(t *testing.T, b *ses.Backend, want []ses.Message) {
	t.Helper()
	got := b.Messages()
	for _, m := range got {
		if !messageID.MatchString(m.ID) {
			t.Errorf("message id %q does not look like an SES id", m.ID)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ses.Message{}, "ID"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func simpleV1(from string, to ...string) *awsses.SendEmailInput {
	return &awsses.SendEmailInput{
		Source:      aws.String(from),
		Destination: &sestypes.Destination{ToAddresses: to},
		Message: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String("Fleet updated")},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String("hello")}},
		},
	}
}

func simpleV2(from string, to ...string) *sesv2.SendEmailInput {
	return &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &v2types.Destination{ToAddresses: to},
		Content: &v2types.EmailContent{Simple: &v2types.Message{
			Subject: &v2types.Content{Data: aws.String("Fleet updated")},
			Body:    &v2types.Body{Text: &v2types.Content{Data: aws.String("hello")}},
		}},
	}
}

func TestBackend_SendEmailV1(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.v1.VerifyEmailIdentity(ctx, &awsses.VerifyEmailIdentityInput{EmailAddress: aws.String("alerts@example.com")}); err != nil {
		t.Fatal(err)
	}
	out, err := f.v1.SendEmail(ctx, &awsses.SendEmailInput{
		Source: aws.String("Deskpilot <alerts@example.com>"),
		Destination: &sestypes.Destination{
			ToAddresses:  []string{"ops@example.org"},
			CcAddresses:  []string{"Lead <lead@example.org>"},
			BccAddresses: []string{"audit@example.net"},
		},
		Message: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String("Fleet updated"), Charset: aws.String("UTF-8")},
			Body: &sestypes.Body{
				Text: &sestypes.Content{Data: aws.String("Fleet demo runs image v2.")},
				Html: &sestypes.Content{Data: aws.String("<p>Fleet <b>demo</b> runs image v2.</p>")},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !messageID.MatchString(aws.ToString(out.MessageId)) {
		t.Errorf("MessageId = %q", aws.ToString(out.MessageId))
	}
	checkMessages(t, f.backend, []ses.Message{{
		Source:  "Deskpilot <alerts@example.com>",
		To:      []string{"ops@example.org"},
		Cc:      []string{"Lead <lead@example.org>"},
		Bcc:     []string{"audit@example.net"},
		Subject: "Fleet updated",
		Text:    "Fleet demo runs image v2.",
		HTML:    "<p>Fleet <b>demo</b> runs image v2.</p>",
		Time:    sendTime,
		API:     "ses",
	}})
	if got := f.backend.Messages()[0].ID; got != aws.ToString(out.MessageId) {
		t.Errorf("stored id %q, returned id %q", got, aws.ToString(out.MessageId))
	}
}

func TestBackend_SendEmailV2(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("alerts@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if created.IdentityType != v2types.IdentityTypeEmailAddress || !created.VerifiedForSendingStatus {
		t.Errorf("CreateEmailIdentity = %v, verified %v", created.IdentityType, created.VerifiedForSendingStatus)
	}
	in := simpleV2("alerts@example.com", "ops@example.org")
	in.Destination.CcAddresses = []string{"lead@example.org"}
	in.Content.Simple.Body.Html = &v2types.Content{Data: aws.String("<p>hello</p>")}
	out, err := f.v2.SendEmail(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !messageID.MatchString(aws.ToString(out.MessageId)) {
		t.Errorf("MessageId = %q", aws.ToString(out.MessageId))
	}
	checkMessages(t, f.backend, []ses.Message{{
		Source:  "alerts@example.com",
		To:      []string{"ops@example.org"},
		Cc:      []string{"lead@example.org"},
		Subject: "Fleet updated",
		Text:    "hello",
		HTML:    "<p>hello</p>",
		Time:    sendTime,
		API:     "sesv2",
	}})
}

func TestBackend_UnverifiedSender(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.backend.VerifyIdentity("alerts@example.com")
	const want = "Email address is not verified. The following identities failed the check in region US-EAST-1: intruder@example.com"

	_, err := f.v1.SendEmail(ctx, simpleV1("Intruder <intruder@example.com>", "ops@example.org"))
	var rejected *sestypes.MessageRejected
	if !errors.As(err, &rejected) {
		t.Fatalf("v1 error = %v, want MessageRejected", err)
	}
	if rejected.ErrorMessage() != want {
		t.Errorf("v1 message = %q, want %q", rejected.ErrorMessage(), want)
	}

	_, err = f.v2.SendEmail(ctx, simpleV2("intruder@example.com", "ops@example.org"))
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("v2 code = %q, want MessageRejected", code)
	}
	// The local part of an address is case-sensitive in SES.
	_, err = f.v1.SendEmail(ctx, simpleV1("Alerts@example.com", "ops@example.org"))
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("v1 code for Alerts@ = %q, want MessageRejected", code)
	}
	if n := len(f.backend.Messages()); n != 0 {
		t.Errorf("%d messages kept, want none", n)
	}
}

func TestBackend_DomainIdentity(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	out, err := f.v1.VerifyDomainIdentity(ctx, &awsses.VerifyDomainIdentityInput{Domain: aws.String("example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if len(aws.ToString(out.VerificationToken)) != 44 {
		t.Errorf("VerificationToken = %q, want 32 bytes in base64", aws.ToString(out.VerificationToken))
	}
	for _, tc := range []struct {
		from string
		want string // error code, "" for success
	}{
		{"anyone@example.com", ""},
		{"Someone Else <else@EXAMPLE.com>", ""},
		{"alerts@mail.example.com", ""},
		{"alerts@example.org", "MessageRejected"},
		{"alerts@notexample.com", "MessageRejected"},
	} {
		t.Run(tc.from, func(t *testing.T) {
			_, err := f.v1.SendEmail(ctx, simpleV1(tc.from, "ops@example.org"))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("SendEmail: %v", err)
			case tc.want != "":
				if code := errorCode(t, err); code != tc.want {
					t.Errorf("code = %q, want %q", code, tc.want)
				}
			}
		})
	}
}

func TestBackend_RecipientLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.backend.VerifyIdentity("example.com")
	recipients := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("user%d@example.org", i)
		}
		return out
	}
	spread := func(n int) *sestypes.Destination {
		r := recipients(n)
		return &sestypes.Destination{ToAddresses: r[:20], CcAddresses: r[20:40], BccAddresses: r[40:]}
	}

	in := simpleV1("alerts@example.com")
	in.Destination = spread(51)
	_, err := f.v1.SendEmail(ctx, in)
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("v1 with 51 recipients: code %q, want MessageRejected", code)
	}
	in.Destination = spread(50)
	if _, err := f.v1.SendEmail(ctx, in); err != nil {
		t.Errorf("v1 with 50 recipients: %v", err)
	}
	_, err = f.v2.SendEmail(ctx, simpleV2("alerts@example.com", recipients(51)...))
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("v2 with 51 recipients: code %q, want MessageRejected", code)
	}
	in.Destination = &sestypes.Destination{ToAddresses: []string{}}
	_, err = f.v1.SendEmail(ctx, in)
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("v1 with no recipients: code %q, want MessageRejected", code)
	}
	_, err = f.v2.SendEmail(ctx, simpleV2("alerts@example.com"))
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("v2 with no recipients: code %q, want MessageRejected", code)
	}
	if n := len(f.backend.Messages()); n != 1 {
		t.Errorf("%d messages kept, want 1", n)
	}
}

func TestBackend_MalformedAddress(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.backend.VerifyIdentity("example.com")

	_, err := f.v1.SendEmail(ctx, simpleV1("alerts@example.com", "ops@example.org", "not-an-address"))
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValue" || apiErr.ErrorMessage() != "Missing final '@domain'" {
		t.Errorf("v1 error = %v, want InvalidParameterValue: Missing final '@domain'", err)
	}
	_, err = f.v2.SendEmail(ctx, simpleV2("alerts@example.com", "ops@exa mple.org"))
	var bad *v2types.BadRequestException
	if !errors.As(err, &bad) {
		t.Errorf("v2 error = %v, want BadRequestException", err)
	}
}

// TestBackend_MissingMembers sends forms the SDK would refuse to build, as other clients might.
func TestBackend_MissingMembers(t *testing.T) {
	f := newFixture(t)
	resp, err := http.PostForm(f.url, url.Values{
		"Action":                           {"SendEmail"},
		"Version":                          {"2010-12-01"},
		"Destination.ToAddresses.member.1": {"ops@example.org"},
		"Message.Subject.Data":             {"s"},
		"Message.Body.Text.Charset":        {"UTF-8"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", resp.StatusCode)
	}
	want := "<Code>ValidationError</Code><Message>2 validation errors detected: " +
		"Value null at &#39;source&#39; failed to satisfy constraint: Member must not be null; " +
		"Value null at &#39;message.body.text.data&#39; failed to satisfy constraint: Member must not be null</Message>"
	if !strings.Contains(string(body), want) {
		t.Errorf("body = %s\nwant it to contain %s", body, want)
	}
}

const rawMIME = "From: =?UTF-8?Q?D=C3=A9sk_Pilot?= <alerts@example.com>\r\n" +
	"To: Ops <ops@example.org>, lead@example.org\r\n" +
	"Cc: audit@example.net\r\n" +
	"Subject: =?UTF-8?B?RmxlZXQgdXBkYXRlZCDinJM=?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=\"inner\"\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Fleet demo runs image v2 =E2=9C=93\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+RmxlZXQgPGI+ZGVtbzwvYj48L3A+\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; name=\"report.txt\"\r\n" +
	"Content-Disposition: attachment; filename=\"report.txt\"\r\n" +
	"\r\n" +
	"attached text\r\n" +
	"--outer--\r\n"

func TestBackend_SendRawEmail(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.backend.VerifyIdentity("alerts@example.com")

	// Without Source or Destinations, the headers give the sender and the recipients.
	if _, err := f.v1.SendRawEmail(ctx, &awsses.SendRawEmailInput{RawMessage: &sestypes.RawMessage{Data: []byte(rawMIME)}}); err != nil {
		t.Fatal(err)
	}
	// With Destinations, they are the recipients; those not in To or Cc are Bcc.
	if _, err := f.v2.SendEmail(ctx, &sesv2.SendEmailInput{
		Destination: &v2types.Destination{ToAddresses: []string{"ops@example.org", "boss@example.org"}},
		Content:     &v2types.EmailContent{Raw: &v2types.RawMessage{Data: []byte(rawMIME)}},
	}); err != nil {
		t.Fatal(err)
	}
	common := ses.Message{
		Source:  `=?utf-8?q?D=C3=A9sk_Pilot?= <alerts@example.com>`,
		Subject: "Fleet updated ✓",
		Text:    "Fleet demo runs image v2 ✓",
		HTML:    "<p>Fleet <b>demo</b></p>",
		Raw:     rawMIME,
		Time:    sendTime,
	}
	headers, envelope := common, common
	headers.To = []string{`"Ops" <ops@example.org>`, "lead@example.org"}
	headers.Cc = []string{"audit@example.net"}
	headers.API = "ses"
	envelope.To = []string{"ops@example.org"}
	envelope.Bcc = []string{"boss@example.org"}
	envelope.API = "sesv2"
	checkMessages(t, f.backend, []ses.Message{headers, envelope})

	// The From header is checked like Source.
	_, err := f.v1.SendRawEmail(ctx, &awsses.SendRawEmailInput{RawMessage: &sestypes.RawMessage{
		Data: []byte("From: intruder@example.com\r\nTo: ops@example.org\r\nSubject: hi\r\n\r\nhi\r\n"),
	}})
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("unverified From header: code %q, want MessageRejected", code)
	}
}

func TestBackend_ListIdentitiesPagination(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, e := range []string{"c@example.com", "a@example.com", "b@example.com"} {
		if _, err := f.v1.VerifyEmailIdentity(ctx, &awsses.VerifyEmailIdentityInput{EmailAddress: aws.String(e)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"example.org", "example.net"} {
		if _, err := f.v1.VerifyDomainIdentity(ctx, &awsses.VerifyDomainIdentityInput{Domain: aws.String(d)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(kind sestypes.IdentityType) (pages [][]string) {
		t.Helper()
		p := awsses.NewListIdentitiesPaginator(f.v1, &awsses.ListIdentitiesInput{IdentityType: kind, MaxItems: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, out.Identities)
		}
		return pages
	}
	want := [][]string{{"a@example.com", "b@example.com"}, {"c@example.com", "example.net"}, {"example.org"}}
	if diff := cmp.Diff(want, list("")); diff != "" {
		t.Errorf("all identities (-want +got):\n%s", diff)
	}
	want = [][]string{{"example.net", "example.org"}}
	if diff := cmp.Diff(want, list(sestypes.IdentityTypeDomain)); diff != "" {
		t.Errorf("domains (-want +got):\n%s", diff)
	}

	if _, err := f.v1.DeleteIdentity(ctx, &awsses.DeleteIdentityInput{Identity: aws.String("b@example.com")}); err != nil {
		t.Fatal(err)
	}
	attrs, err := f.v1.GetIdentityVerificationAttributes(ctx, &awsses.GetIdentityVerificationAttributesInput{
		Identities: []string{"a@example.com", "b@example.com", "example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(attrs.VerificationAttributes) != 2 {
		t.Errorf("attributes for %d identities, want 2 (b@example.com was deleted)", len(attrs.VerificationAttributes))
	}
	if got := attrs.VerificationAttributes["example.org"]; got.VerificationStatus != sestypes.VerificationStatusSuccess || got.VerificationToken == nil {
		t.Errorf("example.org attributes = %+v, want Success with a token", got)
	}
	if got := attrs.VerificationAttributes["a@example.com"]; got.VerificationStatus != sestypes.VerificationStatusSuccess {
		t.Errorf("a@example.com status = %q, want Success", got.VerificationStatus)
	}
}

func TestBackend_V2Identities(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, name := range []string{"example.com", "a@example.org", "b@example.org"} {
		if _, err := f.v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.v2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("EXAMPLE.com")})
	var exists *v2types.AlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("second CreateEmailIdentity: %v, want AlreadyExistsException", err)
	}

	got, err := f.v2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if got.IdentityType != v2types.IdentityTypeDomain || got.VerificationStatus != v2types.VerificationStatusSuccess || !got.VerifiedForSendingStatus {
		t.Errorf("GetEmailIdentity = %v %v %v", got.IdentityType, got.VerificationStatus, got.VerifiedForSendingStatus)
	}

	var names []string
	p := sesv2.NewListEmailIdentitiesPaginator(f.v2, &sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range out.EmailIdentities {
			names = append(names, aws.ToString(id.IdentityName))
		}
	}
	if diff := cmp.Diff([]string{"a@example.org", "b@example.org", "example.com"}, names); diff != "" {
		t.Errorf("listed identities (-want +got):\n%s", diff)
	}

	if _, err := f.v2.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("a@example.org")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.v2.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("a@example.org")})
	var notFound *v2types.NotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("second DeleteEmailIdentity: %v, want NotFoundException", err)
	}
}

func TestBackend_V2GetUnknownIdentity(t *testing.T) {
	f := newFixture(t)
	_, err := f.v2.GetEmailIdentity(context.Background(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("nobody@example.com")})
	var notFound *v2types.NotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("error = %v, want *types.NotFoundException", err)
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != http.StatusNotFound {
		t.Errorf("status = %d, want 404", re.HTTPStatusCode())
	}
}

func TestBackend_V2Template(t *testing.T) {
	f := newFixture(t)
	f.backend.VerifyIdentity("example.com")
	_, err := f.v2.SendEmail(context.Background(), &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("alerts@example.com"),
		Destination:      &v2types.Destination{ToAddresses: []string{"ops@example.org"}},
		Content: &v2types.EmailContent{Template: &v2types.Template{
			TemplateName: aws.String("welcome"), TemplateData: aws.String("{}"),
		}},
	})
	var bad *v2types.BadRequestException
	if !errors.As(err, &bad) {
		t.Fatalf("error = %v, want *types.BadRequestException", err)
	}
	if bad.ErrorMessage() != "templates are not supported by the emulator" {
		t.Errorf("message = %q", bad.ErrorMessage())
	}
}

func TestBackend_UnknownAction(t *testing.T) {
	f := newFixture(t)
	_, err := f.v1.GetSendQuota(context.Background(), &awsses.GetSendQuotaInput{})
	if code := errorCode(t, err); code != "InvalidAction" {
		t.Errorf("code = %q, want InvalidAction", code)
	}
}

func TestBackend_Reset(t *testing.T) {
	f := newFixture(t)
	f.backend.VerifyIdentity("alerts@example.com")
	if _, err := f.v1.SendEmail(context.Background(), simpleV1("alerts@example.com", "ops@example.org")); err != nil {
		t.Fatal(err)
	}
	f.backend.Reset()
	if n := len(f.backend.Messages()); n != 0 {
		t.Errorf("%d messages after Reset", n)
	}
	_, err := f.v1.SendEmail(context.Background(), simpleV1("alerts@example.com", "ops@example.org"))
	if code := errorCode(t, err); code != "MessageRejected" {
		t.Errorf("send after Reset: code %q, want MessageRejected", code)
	}
}

func TestOperationV2(t *testing.T) {
	for _, tc := range []struct {
		method, target, want string
	}{
		{"POST", "/v2/email/outbound-emails", "SendEmail"},
		{"POST", "/v2/email/identities", "CreateEmailIdentity"},
		{"GET", "/v2/email/identities", "ListEmailIdentities"},
		{"POST", "/v2/email/list-identities", "ListEmailIdentities"},
		{"GET", "/v2/email/identities/a%40example.com", "GetEmailIdentity"},
		{"DELETE", "/v2/email/identities/example.com", "DeleteEmailIdentity"},
		{"GET", "/v2/email/identities/example.com/policies", ""},
		{"PUT", "/v2/email/identities/example.com", ""},
		{"GET", "/v2/email/account", ""},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if got := ses.OperationV2(r); got != tc.want {
			t.Errorf("OperationV2(%s %s) = %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
}

// FuzzSendRawEmail sends arbitrary raw messages through the query API: the backend must answer
// every one with a success or a client error, never panic.
func FuzzSendRawEmail(f *testing.F) {
	f.Add([]byte(rawMIME))
	f.Add([]byte("From: alerts@example.com\r\nTo: ops@example.org\r\n\r\nbody"))
	f.Add([]byte("From: alerts@example.com\r\nTo: ops@example.org\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n"))
	f.Add([]byte("Content-Transfer-Encoding: base64\r\n\r\n@@@"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		b := ses.New(func() time.Time { return sendTime }, "us-east-1", "123456789012")
		b.VerifyIdentity("example.com")
		form := url.Values{
			"Action":          {"SendRawEmail"},
			"Version":         {"2010-12-01"},
			"RawMessage.Data": {base64.StdEncoding.EncodeToString(raw)},
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		b.ServeQuery(w, r)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Errorf("status %d for %q: %s", w.Code, raw, w.Body)
		}
	})
}
