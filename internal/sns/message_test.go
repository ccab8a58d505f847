package sns

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var cmpMessage = cmp.AllowUnexported(Message{})

// awsNotification is the Notification of aws-semantics.md §5.3.
const awsNotification = `{
  "Type": "Notification",
  "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
  "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
  "Subject": "ALARM: \"ws-unhealthy\" in US West (Oregon)",
  "Message": "{\"AlarmName\":\"x\"}\nline two",
  "Timestamp": "2012-05-02T00:54:06.655Z",
  "SignatureVersion": "1",
  "Signature": "c2ln",
  "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
  "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96",
  "MessageAttributes": { "k": { "Type": "String", "Value": "v" } }
}`

// awsConfirmation is the SubscriptionConfirmation of aws-semantics.md §5.3.
const awsConfirmation = `{
  "Type": "SubscriptionConfirmation",
  "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
  "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d",
  "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
  "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
  "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",
  "Timestamp": "2012-04-26T20:45:04.751Z",
  "SignatureVersion": "1",
  "Signature": "c2ln",
  "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
}`

func TestParseMessage(t *testing.T) {
	const certURL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
	notif := Message{
		Type:             TypeNotification,
		MessageID:        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		TopicArn:         "arn:aws:sns:us-west-2:123456789012:MyTopic",
		Subject:          `ALARM: "ws-unhealthy" in US West (Oregon)`,
		hasSubject:       true,
		Message:          "{\"AlarmName\":\"x\"}\nline two",
		Timestamp:        "2012-05-02T00:54:06.655Z",
		SignatureVersion: "1",
		Signature:        "c2ln",
		SigningCertURL:   certURL,
		UnsubscribeURL:   "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96",
	}
	noSubject := notif
	noSubject.Subject, noSubject.hasSubject = "", false
	emptySubject := noSubject
	emptySubject.hasSubject = true
	minimal := Message{Type: TypeNotification, MessageID: "i", TopicArn: "t", Timestamp: "2012-05-02T00:54:06Z"}

	replace := func(body, old, new string) string {
		if !strings.Contains(body, old) {
			t.Fatalf("test body lacks %q", old)
		}
		return strings.Replace(body, old, new, 1)
	}

	tests := []struct {
		name string
		body string
		want Message
		err  string // substring of the error; "" means success
	}{
		{name: "notification", body: awsNotification, want: notif},
		{name: "confirmation", body: awsConfirmation, want: Message{
			Type:             TypeSubscriptionConfirmation,
			MessageID:        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
			Token:            "2336412f37fb687f5d51e6e241d09c805a5a57b30d",
			TopicArn:         "arn:aws:sns:us-west-2:123456789012:MyTopic",
			Message:          "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
			SubscribeURL:     "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",
			Timestamp:        "2012-04-26T20:45:04.751Z",
			SignatureVersion: "1",
			Signature:        "c2ln",
			SigningCertURL:   certURL,
		}},
		{name: "unsubscribe confirmation", body: replace(awsConfirmation, `"SubscriptionConfirmation"`, `"UnsubscribeConfirmation"`), want: Message{
			Type:             TypeUnsubscribeConfirmation,
			MessageID:        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
			Token:            "2336412f37fb687f5d51e6e241d09c805a5a57b30d",
			TopicArn:         "arn:aws:sns:us-west-2:123456789012:MyTopic",
			Message:          "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
			SubscribeURL:     "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",
			Timestamp:        "2012-04-26T20:45:04.751Z",
			SignatureVersion: "1",
			Signature:        "c2ln",
			SigningCertURL:   certURL,
		}},
		{name: "no subject", body: replace(awsNotification, `"Subject": "ALARM: \"ws-unhealthy\" in US West (Oregon)",`, ""), want: noSubject},
		{name: "empty subject is present", body: replace(awsNotification, `"Subject": "ALARM: \"ws-unhealthy\" in US West (Oregon)",`, `"Subject": "",`), want: emptySubject},
		{name: "null subject is absent", body: replace(awsNotification, `"Subject": "ALARM: \"ws-unhealthy\" in US West (Oregon)",`, `"Subject": null,`), want: noSubject},
		{name: "lambda spellings", body: replace(replace(awsNotification, `"SigningCertURL"`, `"SigningCertUrl"`), `"UnsubscribeURL"`, `"UnsubscribeUrl"`), want: notif},
		{name: "minimal", body: `{"Type":"Notification","MessageId":"i","TopicArn":"t","Message":"","Timestamp":"2012-05-02T00:54:06Z"}`, want: minimal},
		{name: "surrounding whitespace", body: " \n" + awsNotification + "\n\t", want: notif},

		{name: "empty", body: ``, err: "not a JSON object"},
		{name: "array", body: `[` + awsNotification + `]`, err: "not a JSON object"},
		{name: "string", body: `"Notification"`, err: "not a JSON object"},
		{name: "null", body: `null`, err: "not a JSON object"},
		{name: "truncated", body: awsNotification[:len(awsNotification)-2], err: "malformed"},
		{name: "trailing data", body: awsNotification + `{}`, err: "data after"},
		{name: "trailing garbage", body: awsNotification + `x`, err: "malformed"},
		{name: "duplicate key", body: replace(awsNotification, `"Type": "Notification",`, `"Type": "Notification", "Type": "Notification",`), err: "twice"},
		{name: "duplicate key with null", body: replace(awsNotification, `"Type": "Notification",`, `"Type": "Notification", "Subject": null,`), err: "twice"},
		{name: "duplicate unknown key", body: replace(awsNotification, `"Type": "Notification",`, `"Type": "Notification", "X": 1, "X": 2,`), err: "twice"},
		{name: "both cert spellings", body: replace(awsNotification, `"Type": "Notification",`, `"Type": "Notification", "SigningCertUrl": "x",`), err: "both SigningCertURL"},
		{name: "both unsubscribe spellings", body: replace(awsNotification, `"Type": "Notification",`, `"Type": "Notification", "UnsubscribeUrl": "x",`), err: "both UnsubscribeURL"},
		{name: "no type", body: replace(awsNotification, `"Type": "Notification",`, ``), err: "no Type"},
		{name: "unknown type", body: replace(awsNotification, `"Notification"`, `"Notice"`), err: "unknown Type"},
		{name: "lower-case type", body: replace(awsNotification, `"Notification"`, `"notification"`), err: "unknown Type"},
		{name: "type key in other case", body: replace(awsNotification, `"Type": "Notification",`, `"type": "Notification",`), err: "no Type"},
		{name: "number value", body: replace(awsNotification, `"SignatureVersion": "1"`, `"SignatureVersion": 1`), err: "not a string"},
		{name: "object value", body: replace(awsNotification, `"Message": "{\"AlarmName\":\"x\"}\nline two"`, `"Message": {"AlarmName":"x"}`), err: "not a string"},
		{name: "no message id", body: replace(awsNotification, `"MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",`, ``), err: "no MessageId"},
		{name: "empty message id", body: replace(awsNotification, `"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"`, `""`), err: "empty MessageId"},
		{name: "no topic", body: replace(awsNotification, `"TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",`, ``), err: "no TopicArn"},
		{name: "no message", body: replace(awsNotification, `"Message": "{\"AlarmName\":\"x\"}\nline two",`, ``), err: "no Message"},
		{name: "null message", body: replace(awsNotification, `"Message": "{\"AlarmName\":\"x\"}\nline two",`, `"Message": null,`), err: "no Message"},
		{name: "no timestamp", body: replace(awsNotification, `"Timestamp": "2012-05-02T00:54:06.655Z",`, ``), err: "no Timestamp"},
		{name: "bad timestamp", body: replace(awsNotification, `2012-05-02T00:54:06.655Z`, `2012-05-02 00:54:06`), err: "not RFC 3339"},
		{name: "token in notification", body: replace(awsNotification, `"Type": "Notification",`, `"Type": "Notification", "Token": "t",`), err: "Token is not allowed"},
		{name: "subscribe URL in notification", body: replace(awsNotification, `"Type": "Notification",`, `"Type": "Notification", "SubscribeURL": "https://evil.example/",`), err: "SubscribeURL is not allowed"},
		{name: "subject in confirmation", body: replace(awsConfirmation, `"Type": "SubscriptionConfirmation",`, `"Type": "SubscriptionConfirmation", "Subject": "s",`), err: "Subject is not allowed"},
		{name: "confirmation without token", body: replace(awsConfirmation, `"Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d",`, ``), err: "no Token"},
		{name: "confirmation without subscribe URL", body: replace(awsConfirmation, `"SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",`, ``), err: "no SubscribeURL"},
		{name: "invalid UTF-8", body: replace(awsNotification, `line two`, "line \xff"), err: "UTF-8"},
		{name: "message too large", body: `{"Type":"Notification","MessageId":"i","TopicArn":"t","Timestamp":"2012-05-02T00:54:06Z","Message":"` + strings.Repeat("a", MaxMessageBytes+1) + `"}`, err: "more than"},
		{name: "body too large", body: awsNotification + strings.Repeat(" ", MaxBodyBytes), err: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage([]byte(tt.body))
			if tt.err != "" {
				if err == nil {
					t.Fatalf("ParseMessage succeeded: %+v", got)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v is not ErrMalformed", err)
				}
				mustContain(t, err.Error(), tt.err)
				if diff := cmp.Diff(Message{}, got, cmpMessage); diff != "" {
					t.Errorf("a failed ParseMessage returned a message (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpMessage); diff != "" {
				t.Errorf("ParseMessage (-want +got):\n%s", diff)
			}
			// What encode writes reads back the same.
			again, err := ParseMessage(encode(got))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again, cmpMessage); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestStringToSign(t *testing.T) {
	notif := Message{
		Type: TypeNotification, MessageID: "id", TopicArn: "arn", Message: "line1\nline2", Timestamp: "ts",
		Subject: "subj", hasSubject: true,
		// Not signed:
		SignatureVersion: "1", Signature: "sig", SigningCertURL: "cert", UnsubscribeURL: "unsub",
	}
	noSubject := notif
	noSubject.Subject, noSubject.hasSubject = "", false
	emptySubject := noSubject
	emptySubject.hasSubject = true
	subjectOnly := noSubject
	subjectOnly.Subject = "set by hand"
	conf := Message{
		Type: TypeSubscriptionConfirmation, MessageID: "id", Token: "tok", TopicArn: "arn", Message: "m",
		SubscribeURL: "https://sub", Timestamp: "ts", Signature: "sig", SigningCertURL: "cert",
	}
	unsub := conf
	unsub.Type = TypeUnsubscribeConfirmation

	tests := []struct {
		name string
		m    Message
		want string
		err  bool
	}{
		{name: "notification with subject", m: notif,
			want: "Message\nline1\nline2\nMessageId\nid\nSubject\nsubj\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n"},
		{name: "notification without subject", m: noSubject,
			want: "Message\nline1\nline2\nMessageId\nid\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n"},
		{name: "notification with empty subject", m: emptySubject,
			want: "Message\nline1\nline2\nMessageId\nid\nSubject\n\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n"},
		{name: "subject set by hand counts as present", m: subjectOnly,
			want: "Message\nline1\nline2\nMessageId\nid\nSubject\nset by hand\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n"},
		{name: "subscription confirmation", m: conf,
			want: "Message\nm\nMessageId\nid\nSubscribeURL\nhttps://sub\nTimestamp\nts\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n"},
		{name: "unsubscribe confirmation", m: unsub,
			want: "Message\nm\nMessageId\nid\nSubscribeURL\nhttps://sub\nTimestamp\nts\nToken\ntok\nTopicArn\narn\nType\nUnsubscribeConfirmation\n"},
		{name: "unknown type", m: Message{Type: "Other"}, err: true},
		{name: "no type", m: Message{}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StringToSign(tt.m)
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("StringToSign = %q, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("StringToSign (-want +got):\n%s", diff)
			}
		})
	}
}

// The string to sign is built from JSON-decoded values: escapes in the body
// become real characters.
func TestStringToSign_decodedValues(t *testing.T) {
	m, err := ParseMessage([]byte(`{"Type":"Notification","MessageId":"i","TopicArn":"t","Timestamp":"2012-05-02T00:54:06Z","Subject":"a\u00e9\"b","Message":"x\ny\\z\u2028"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := StringToSign(m)
	if err != nil {
		t.Fatal(err)
	}
	want := "Message\nx\ny\\z\u2028\nMessageId\ni\nSubject\naé\"b\nTimestamp\n2012-05-02T00:54:06Z\nTopicArn\nt\nType\nNotification\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StringToSign (-want +got):\n%s", diff)
	}
}
