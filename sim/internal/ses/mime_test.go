package ses

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMIME(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     string
		want    mimeMessage
		wantErr bool
	}{{
		name: "plain message without MIME headers",
		raw:  "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n",
		want: mimeMessage{from: "a@example.com", to: []string{"b@example.org"}, subject: "hi", text: "hello\r\n"},
	}, {
		name: "html only, Latin-1 encoded subject, bcc header",
		raw: "From: a@example.com\r\nBcc: c@example.org\r\nSubject: =?ISO-8859-1?Q?caf=E9?=\r\n" +
			"Content-Type: text/html; charset=utf-8\r\n\r\n<p>x</p>",
		want: mimeMessage{from: "a@example.com", bcc: []string{"c@example.org"}, subject: "café", html: "<p>x</p>"},
	}, {
		name: "undecodable base64 body is kept as sent",
		raw:  "From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\n@@not base64@@",
		want: mimeMessage{from: "a@example.com", text: "@@not base64@@"},
	}, {
		name: "multipart without closing boundary keeps the parts read",
		raw: "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>second</p>",
		want: mimeMessage{from: "a@example.com", text: "first", html: "<p>second</p>"},
	}, {
		name: "only the first plain-text part counts",
		raw: "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\n",
		want: mimeMessage{from: "a@example.com", text: "one"},
	}, {
		name:    "malformed address header",
		raw:     "From: a@example.com\r\nTo: <<broken\r\n\r\nx",
		wantErr: true,
	}, {
		name:    "no header section",
		raw:     "just text",
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMIME([]byte(tc.raw))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseMIME error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(mimeMessage{})); diff != "" {
				t.Errorf("parseMIME (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMIME_DeepNesting(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := range 50 {
		b.WriteString("--b" + strconv.Itoa(i) + "\r\nContent-Type: multipart/mixed; boundary=b" + strconv.Itoa(i+1) + "\r\n\r\n")
	}
	b.WriteString("--b50\r\n\r\ndeep\r\n")
	got, err := parseMIME([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got.text != "" {
		t.Errorf("text = %q, want nothing read beyond %d levels", got.text, maxMIMEDepth)
	}
}
