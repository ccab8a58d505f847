package sns

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		awsNotification,
		awsConfirmation,
		strings.Replace(awsConfirmation, "SubscriptionConfirmation", "UnsubscribeConfirmation", 1),
		strings.Replace(strings.Replace(awsNotification, "SigningCertURL", "SigningCertUrl", 1), "UnsubscribeURL", "UnsubscribeUrl", 1),
		string(encode(notification("n1", sampleAlarm))),
		`{"Type":"Notification","MessageId":"i","TopicArn":"t","Message":"","Timestamp":"2012-05-02T00:54:06Z","Subject":null}`,
		`{"Type":"Notification","Type":"Notification"}`,
		`{"Type":"Notification","MessageId":"i","TopicArn":"t","Message":"\ud800","Timestamp":"2012-05-02T00:54:06+01:00","X":[1,{"a":null}]}`,
		`{}`, `[]`, `null`, ``, `{"Type":1}`, `{"Type":"Notification"}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMessage(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			if diff := cmp.Diff(Message{}, m, cmpMessage); diff != "" {
				t.Fatalf("a failed ParseMessage returned a message:\n%s", diff)
			}
			return
		}
		switch m.Type {
		case TypeNotification:
			if m.Token != "" || m.SubscribeURL != "" {
				t.Fatalf("notification with Token or SubscribeURL: %+v", m)
			}
		case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
			if m.Token == "" || m.SubscribeURL == "" || m.Subject != "" || m.hasSubject {
				t.Fatalf("confirmation without Token or SubscribeURL, or with Subject: %+v", m)
			}
		default:
			t.Fatalf("accepted Type %q", m.Type)
		}
		if m.MessageID == "" || m.TopicArn == "" || m.Timestamp == "" || len(m.Message) > MaxMessageBytes {
			t.Fatalf("accepted without a required field: %+v", m)
		}
		if _, err := StringToSign(m); err != nil {
			t.Fatalf("StringToSign of an accepted message: %v", err)
		}

		// Accepted messages round-trip their fields.
		again, err := ParseMessage(encode(m))
		if err != nil {
			t.Fatalf("ParseMessage(encode(%+v)): %v", m, err)
		}
		if diff := cmp.Diff(m, again, cmpMessage); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// encodeAlarm is an alarm document for a, as CloudWatch would write it.
func encodeAlarm(a Alarm) string {
	dims := make([]map[string]string, 0, len(a.WorkspaceIDs))
	for _, id := range a.WorkspaceIDs {
		dims = append(dims, map[string]string{"value": id, "name": "WorkspaceId"})
	}
	doc := map[string]any{
		"AlarmName":       a.AlarmName,
		"AlarmArn":        a.AlarmArn,
		"NewStateValue":   a.NewStateValue,
		"Region":          a.Region,
		"StateChangeTime": a.StateChangeTime.Format("2006-01-02T15:04:05.000-0700"),
		"Trigger": map[string]any{
			"MetricName": a.MetricName,
			"Namespace":  a.Namespace,
			"Dimensions": dims,
		},
	}
	if a.StateChangeTime.Nanosecond()%1e6 != 0 {
		doc["StateChangeTime"] = a.StateChangeTime.Format(time.RFC3339Nano)
	}
	if a.OldStateValue != "" {
		doc["OldStateValue"] = a.OldStateValue
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func FuzzParseAlarm(f *testing.F) {
	for _, s := range []string{
		sampleAlarm,
		mathAlarm,
		strings.Replace(sampleAlarm, `"NewStateValue": "ALARM"`, `"NewStateValue": "OK"`, 1),
		strings.Replace(sampleAlarm, `{ "value": "ws-dk1xzr417", "name": "WorkspaceId" }`, `{ "Name": "WorkspaceId", "Value": "ws-dk1xzr417" }, { "name": "workspaceid", "value": "ws-aaaaaaaa1" }`, 1),
		encodeAlarm(Alarm{AlarmName: "a", NewStateValue: "ALARM", StateChangeTime: now.Add(123456789), WorkspaceIDs: []string{"ws-00000000"}}),
		`{"AlarmName":"a","NewStateValue":"ALARM","StateChangeTime":"2024-05-01T10:05:12+14:00","Trigger":{"Dimensions":[{"name":"WorkspaceId","value":"ws-12345678"}]}}`,
		`{"AlarmName":"a","NewStateValue":"ALARM","StateChangeTime":"9999-12-31T23:59:59-01:00","Trigger":{"Dimensions":[{"name":"WorkspaceId","value":"ws-12345678"}]}}`,
		`{}`, `[]`, `null`, ``, `{"Trigger":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		a, err := ParseAlarm(doc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			if diff := cmp.Diff(Alarm{}, a); diff != "" {
				t.Fatalf("a failed ParseAlarm returned an alarm:\n%s", diff)
			}
			return
		}
		if a.AlarmName == "" || !validState(a.NewStateValue) || (a.OldStateValue != "" && !validState(a.OldStateValue)) {
			t.Fatalf("accepted %+v", a)
		}
		if a.StateChangeTime.Location() != time.UTC {
			t.Fatalf("StateChangeTime %v is not UTC", a.StateChangeTime)
		}
		if len(a.WorkspaceIDs) == 0 {
			t.Fatalf("accepted an alarm without WorkSpaces")
		}
		seen := map[string]bool{}
		for _, id := range a.WorkspaceIDs {
			if seen[id] || !workspaceIDRE.MatchString(id) {
				t.Fatalf("WorkspaceIDs %q: duplicate or invalid %q", a.WorkspaceIDs, id)
			}
			seen[id] = true
		}

		// Accepted alarms round-trip their fields.
		again, err := ParseAlarm(encodeAlarm(a))
		if err != nil {
			t.Fatalf("ParseAlarm(encodeAlarm(%+v)): %v", a, err)
		}
		if diff := cmp.Diff(a, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzStringToSign(f *testing.F) {
	f.Add(TypeNotification, "msg\nline", "id", "subject", true, "2012-05-02T00:54:06.655Z", "arn", "", "", "sig")
	f.Add(TypeNotification, "", "", "", false, "", "", "", "", "")
	f.Add(TypeSubscriptionConfirmation, "m", "id", "", false, "ts", "arn", "tok", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", "")
	f.Add(TypeUnsubscribeConfirmation, "m", "id", "", false, "ts", "arn", "tok", "u", "x")
	f.Add("Other", "m", "id", "s", true, "ts", "arn", "tok", "u", "")
	f.Fuzz(func(t *testing.T, typ, msg, id, subject string, hasSubject bool, ts, topic, token, subscribeURL, unsigned string) {
		m := Message{
			Type: typ, Message: msg, MessageID: id, Subject: subject, hasSubject: hasSubject,
			Timestamp: ts, TopicArn: topic, Token: token, SubscribeURL: subscribeURL,
			// Never signed.
			SignatureVersion: unsigned, Signature: unsigned, SigningCertURL: unsigned, UnsubscribeURL: unsigned,
		}
		got, err := StringToSign(m)

		// An independent reading of §5.4: the signed keys of the Type that
		// are present, in byte order of their names.
		values := map[string]string{"Message": msg, "MessageId": id, "Timestamp": ts, "TopicArn": topic, "Type": typ}
		switch typ {
		case TypeNotification:
			if hasSubject || subject != "" {
				values["Subject"] = subject
			}
		case TypeSubscriptionConfirmation, TypeUnsubscribeConfirmation:
			values["Token"], values["SubscribeURL"] = token, subscribeURL
		default:
			if !errors.Is(err, ErrMalformed) || got != "" {
				t.Fatalf("StringToSign of Type %q = %q, %v; want ErrMalformed", typ, got, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("StringToSign: %v", err)
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var want strings.Builder
		for _, k := range keys {
			want.WriteString(k + "\n" + values[k] + "\n")
		}
		if got != want.String() {
			t.Fatalf("StringToSign = %q, want %q", got, want.String())
		}

		// The unsigned fields do not matter.
		m.SignatureVersion, m.Signature, m.SigningCertURL, m.UnsubscribeURL = "", "", "", ""
		if again, _ := StringToSign(m); again != got {
			t.Fatalf("unsigned fields changed the string to sign: %q, then %q", got, again)
		}
	})
}
