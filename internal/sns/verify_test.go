package sns

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestVerifier_CheckCertURL(t *testing.T) {
	const trusted = "http://127.0.0.1:4566/_sim/sns/cert.pem"
	v := &Verifier{TrustedCertURLs: []string{trusted}}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem", true},
		{"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem", true},
		{"https://sns.ap-southeast-2.amazonaws.com/a.pem", true},
		{"https://sns.us-gov-west-1.amazonaws.com/a.pem", true},
		{"https://sns.cn-north-1.amazonaws.com.cn/a.pem", true},
		{"https://sns.us-east-1.amazonaws.com/dir/a.pem", true},
		{trusted, true},

		{"", false},
		{"http://sns.us-east-1.amazonaws.com/a.pem", false},                                // scheme
		{"HTTPS://sns.us-east-1.amazonaws.com/a.pem", true},                                // url.Parse lower-cases the scheme
		{"ftp://sns.us-east-1.amazonaws.com/a.pem", false},                                 // scheme
		{"//sns.us-east-1.amazonaws.com/a.pem", false},                                     // no scheme
		{"sns.us-east-1.amazonaws.com/a.pem", false},                                       // not absolute
		{"https:sns.us-east-1.amazonaws.com/a.pem", false},                                 // opaque
		{"https://sns.us-east-1.amazonaws.com.evil.com/a.pem", false},                      // suffix
		{"https://sns.us-east-1.amazonaws.com.cn.evil.com/a.pem", false},                   // suffix
		{"https://evil.com/sns.us-east-1.amazonaws.com/a.pem", false},                      // host in path
		{"https://evil.com/?h=sns.us-east-1.amazonaws.com/a.pem", false},                   // host in query
		{"https://evilsns.us-east-1.amazonaws.com/a.pem", false},                           // prefix
		{"https://xsns.us-east-1.amazonaws.com/a.pem", false},                              // prefix
		{"https://sns.us-east-1.amazonaws.com@evil.com/a.pem", false},                      // userinfo
		{"https://user@sns.us-east-1.amazonaws.com/a.pem", false},                          // userinfo
		{"https://user:pw@sns.us-east-1.amazonaws.com/a.pem", false},                       // userinfo
		{"https://evil.com#@sns.us-east-1.amazonaws.com/a.pem", false},                     // fragment trick
		{"https://evil.com\\@sns.us-east-1.amazonaws.com/a.pem", false},                    // backslash
		{"https://sns.us-east-1.amazonaws.com\\.evil.com/a.pem", false},                    // backslash
		{"https://sns.us-east-1.amazonaws.com:443/a.pem", false},                           // port
		{"https://sns.us-east-1.amazonaws.com:8443/a.pem", false},                          // port
		{"https://sns.us-east-1.amazonaws.com:/a.pem", false},                              // empty port
		{"https://sns.us-east-1.amazonaws.com./a.pem", false},                              // trailing dot
		{"https://SNS.US-EAST-1.AMAZONAWS.COM/a.pem", false},                               // upper case
		{"https://sns.us-east-1.amazonaws.com%2eevil.com/a.pem", false},                    // escaped dot
		{"https://sns.us-east-1.amazonaws.com/a.pem?x=1", false},                           // query
		{"https://sns.us-east-1.amazonaws.com/a.pem?", false},                              // empty query
		{"https://sns.us-east-1.amazonaws.com/a.pem#x", false},                             // fragment
		{"https://sns.us-east-1.amazonaws.com/a.pem.txt", false},                           // not .pem
		{"https://sns.us-east-1.amazonaws.com/a.PEM", false},                               // not .pem
		{"https://sns.us-east-1.amazonaws.com/", false},                                    // not .pem
		{"https://sns.us-east-1.amazonaws.com", false},                                     // no path
		{"https://sns.us-east-1.amazonaws.com/x/../a.pem", false},                          // dot-dot
		{"https://sns.us-east-1.amazonaws.com/x/%2e%2e/a.pem", false},                      // escaped dot-dot
		{"https://sns.us-east-1.amazonaws.com/a b.pem", false},                             // space
		{"https://sns.us-east-1.amazonaws.com/a\n.pem", false},                             // control
		{"https://sqs.us-east-1.amazonaws.com/a.pem", false},                               // other service
		{"https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/a.pem", false},              // other service
		{"https://sns.amazonaws.com/a.pem", false},                                         // no region
		{"https://sns.us-east-1.amazonaws.org/a.pem", false},                               // other domain
		{"https://sns.us-east-1.amazonaws.com.br/a.pem", false},                            // other domain
		{"https://sns.useast1.amazonaws.com/a.pem", false},                                 // not a region
		{"https://[::1]/a.pem", false},                                                     // IP
		{"https://54.239.28.85/a.pem", false},                                              // IP
		{"http://127.0.0.1:4566/_sim/sns/cert.pem?x", false},                               // near a trusted URL
		{"http://127.0.0.1:4566/_sim/sns/other.pem", false},                                // near a trusted URL
		{"https://127.0.0.1:4566/_sim/sns/cert.pem", false},                                // near a trusted URL
		{"http://127.0.0.1:4566/_sim/sns/cert.pem ", false},                                // near a trusted URL
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem\x00", false}, // NUL
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := v.CheckCertURL(tt.url)
			if tt.ok && err != nil {
				t.Errorf("CheckCertURL(%q) = %v, want nil", tt.url, err)
			}
			if !tt.ok && !errors.Is(err, ErrUntrustedCert) {
				t.Errorf("CheckCertURL(%q) = %v, want ErrUntrustedCert", tt.url, err)
			}
		})
	}
}

func TestVerifier_CheckSubscribeURL(t *testing.T) {
	v := &Verifier{TrustedCertURLs: []string{"http://127.0.0.1:4566/_sim/sns/cert.pem"}}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37", true},
		{"https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=x", true},
		{"http://127.0.0.1:4566/?Action=ConfirmSubscription&Token=x", true}, // the emulator's scheme and host

		{"", false},
		{"http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", false},
		{"https://sns.us-west-2.amazonaws.com.evil.com/?Action=ConfirmSubscription", false},
		{"https://evil.com/sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", false},
		{"https://u@sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", false},
		{"https://sns.us-west-2.amazonaws.com:8443/?Action=ConfirmSubscription", false},
		{"https://sqs.us-west-2.amazonaws.com/?Action=ConfirmSubscription", false},
		{"http://127.0.0.1:4567/?Action=ConfirmSubscription", false},  // other port
		{"https://127.0.0.1:4566/?Action=ConfirmSubscription", false}, // other scheme
		{"http://u@127.0.0.1:4566/?Action=ConfirmSubscription", false},
		{"http://127.0.0.1/?Action=ConfirmSubscription", false},
		{"http://169.254.169.254/latest/meta-data/", false},
		{"/?Action=ConfirmSubscription", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := v.CheckSubscribeURL(tt.url)
			if tt.ok && err != nil {
				t.Errorf("CheckSubscribeURL(%q) = %v, want nil", tt.url, err)
			}
			if !tt.ok && !errors.Is(err, ErrUntrustedCert) {
				t.Errorf("CheckSubscribeURL(%q) = %v, want ErrUntrustedCert", tt.url, err)
			}
		})
	}
	if err := (&Verifier{}).CheckSubscribeURL("http://127.0.0.1:4566/?Action=ConfirmSubscription"); err == nil {
		t.Error("a Verifier without trusted URLs accepts an emulator SubscribeURL")
	}
}

// verifyEnv is a certificate server and a Verifier trusting its /cert.pem.
type verifyEnv struct {
	srv     *files
	certURL string
	v       *Verifier
	clock   *time.Time
}

func newVerifyEnv(t *testing.T) *verifyEnv {
	k := testKey(t)
	srv := newFiles(t, map[string][]byte{
		"/cert.pem":    certPEM(t, k, now.Add(-time.Hour), now.Add(24*time.Hour)),
		"/expired.pem": certPEM(t, k, now.Add(-48*time.Hour), now.Add(-time.Hour)),
		"/future.pem":  certPEM(t, k, now.Add(time.Hour), now.Add(48*time.Hour)),
	})
	e := &verifyEnv{srv: srv, certURL: srv.URL + "/cert.pem"}
	c := now
	e.clock = &c
	e.v = &Verifier{
		TrustedCertURLs: []string{e.certURL, srv.URL + "/expired.pem", srv.URL + "/future.pem", srv.URL + "/missing.pem", srv.URL + "/junk.pem", srv.URL + "/ec.pem", srv.URL + "/small.pem"},
		Client:          srv.Client(),
		Now:             func() time.Time { return *e.clock },
	}
	return e
}

func TestVerifier_Verify(t *testing.T) {
	e := newVerifyEnv(t)
	k := testKey(t)

	signed := func(m Message, version string) Message {
		m.SigningCertURL = e.certURL
		sign(t, k, &m, version)
		return m
	}
	alarm := notification("n1", sampleAlarm)
	noSubject := alarm
	noSubject.Subject, noSubject.hasSubject = "", false

	type edit func(*Message)
	tests := []struct {
		name    string
		m       Message
		version string
		edit    edit // after signing
		want    error
	}{
		{name: "v1", m: alarm, version: "1"},
		{name: "v2", m: alarm, version: "2"},
		{name: "v1 without subject", m: noSubject, version: "1"},
		{name: "v2 confirmation", m: confirmation("c1", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"), version: "2"},
		{name: "v1 confirmation", m: confirmation("c1", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"), version: "1"},
		{name: "unsigned fields may change", m: alarm, version: "1", edit: func(m *Message) { m.UnsubscribeURL = "https://evil.example/" }},

		{name: "message flipped", m: alarm, version: "1", edit: func(m *Message) { m.Message = flip(m.Message, 100) }, want: ErrBadSignature},
		{name: "message flipped v2", m: alarm, version: "2", edit: func(m *Message) { m.Message = flip(m.Message, 100) }, want: ErrBadSignature},
		{name: "subject flipped", m: alarm, version: "1", edit: func(m *Message) { m.Subject = flip(m.Subject, 3) }, want: ErrBadSignature},
		{name: "timestamp flipped", m: alarm, version: "2", edit: func(m *Message) { m.Timestamp = strings.Replace(m.Timestamp, ":09:59", ":09:58", 1) }, want: ErrBadSignature},
		{name: "topic flipped", m: alarm, version: "1", edit: func(m *Message) { m.TopicArn = flip(m.TopicArn, len(m.TopicArn)-1) }, want: ErrBadSignature},
		{name: "message id flipped", m: alarm, version: "1", edit: func(m *Message) { m.MessageID = "n2" }, want: ErrBadSignature},
		{name: "subject removed (the moto bug)", m: alarm, version: "2", edit: func(m *Message) { m.Subject, m.hasSubject = "", false }, want: ErrBadSignature},
		{name: "subject emptied", m: alarm, version: "2", edit: func(m *Message) { m.Subject = "" }, want: ErrBadSignature},
		{name: "subject added", m: noSubject, version: "1", edit: func(m *Message) { m.Subject, m.hasSubject = "", true }, want: ErrBadSignature},
		{name: "version swapped", m: alarm, version: "1", edit: func(m *Message) { m.SignatureVersion = "2" }, want: ErrBadSignature},
		{name: "token flipped", m: confirmation("c1", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"), version: "1", edit: func(m *Message) { m.Token = flip(m.Token, 0) }, want: ErrBadSignature},
		{name: "subscribe URL changed", m: confirmation("c1", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"), version: "2", edit: func(m *Message) { m.SubscribeURL += "y" }, want: ErrBadSignature},
		{name: "type changed", m: confirmation("c1", "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"), version: "2", edit: func(m *Message) { m.Type = TypeUnsubscribeConfirmation }, want: ErrBadSignature},
		{name: "signature not base64", m: alarm, version: "1", edit: func(m *Message) { m.Signature = "!!" + m.Signature }, want: ErrBadSignature},
		{name: "signature truncated", m: alarm, version: "1", edit: func(m *Message) { m.Signature = m.Signature[:40] }, want: ErrBadSignature},

		{name: "no signature version", m: alarm, version: "1", edit: func(m *Message) { m.SignatureVersion = "" }, want: ErrUnsigned},
		{name: "signature version 3", m: alarm, version: "1", edit: func(m *Message) { m.SignatureVersion = "3" }, want: ErrUnsigned},
		{name: "empty signature", m: alarm, version: "1", edit: func(m *Message) { m.Signature = "" }, want: ErrUnsigned},
		{name: "unsigned", m: alarm, version: "1", edit: func(m *Message) { m.Signature, m.SignatureVersion, m.SigningCertURL = "", "", "" }, want: ErrUnsigned},

		{name: "no cert URL", m: alarm, version: "1", edit: func(m *Message) { m.SigningCertURL = "" }, want: ErrUntrustedCert},
		{name: "untrusted cert URL", m: alarm, version: "1", edit: func(m *Message) { m.SigningCertURL = strings.Replace(m.SigningCertURL, "127.0.0.1", "localhost", 1) }, want: ErrUntrustedCert},
		{name: "expired cert", m: alarm, version: "1", edit: func(m *Message) { m.SigningCertURL = e.srv.URL + "/expired.pem" }, want: ErrUntrustedCert},
		{name: "cert not yet valid", m: alarm, version: "1", edit: func(m *Message) { m.SigningCertURL = e.srv.URL + "/future.pem" }, want: ErrUntrustedCert},
		{name: "cert missing", m: alarm, version: "1", edit: func(m *Message) { m.SigningCertURL = e.srv.URL + "/missing.pem" }, want: ErrUntrustedCert},

		{name: "stale", m: alarm, version: "1", edit: func(m *Message) { m.Timestamp = now.Add(-time.Hour - time.Second).Format(time.RFC3339) }, want: ErrStale},
		{name: "just fresh", m: withTimestamp(alarm, now.Add(-time.Hour)), version: "1"},
		{name: "stale and signed", m: withTimestamp(alarm, now.Add(-time.Hour-time.Millisecond)), version: "2", want: ErrStale},
		{name: "from the near future", m: withTimestamp(alarm, now.Add(MaxClockSkew)), version: "2"},
		{name: "from the far future", m: withTimestamp(alarm, now.Add(MaxClockSkew+time.Second)), version: "2", want: ErrStale},
		{name: "timestamp unreadable", m: alarm, version: "1", edit: func(m *Message) { m.Timestamp = "yesterday" }, want: ErrMalformed},
		{name: "unknown type", m: alarm, version: "1", edit: func(m *Message) { m.Type = "Other" }, want: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := signed(tt.m, tt.version)
			if tt.edit != nil {
				tt.edit(&m)
			}
			err := e.v.Verify(context.Background(), m)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
			} else if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			// A message that fails verification also fails after a round
			// trip through JSON, and one that passes still passes.
			if m.Type != TypeNotification && m.Type != TypeSubscriptionConfirmation && m.Type != TypeUnsubscribeConfirmation {
				return
			}
			if p, perr := ParseMessage(encode(m)); perr == nil {
				if err2 := e.v.Verify(context.Background(), p); (err2 == nil) != (err == nil) {
					t.Errorf("after a JSON round trip, Verify = %v; before, %v", err2, err)
				}
			}
		})
	}
}

func withTimestamp(m Message, ts time.Time) Message {
	m.Timestamp = ts.UTC().Format(time.RFC3339Nano)
	return m
}

func TestVerifier_MaxAge(t *testing.T) {
	e := newVerifyEnv(t)
	e.v.MaxAge = 10 * time.Minute
	m := withTimestamp(notification("n1", sampleAlarm), now.Add(-11*time.Minute))
	m.SigningCertURL = e.certURL
	sign(t, testKey(t), &m, "2")
	if err := e.v.Verify(context.Background(), m); !errors.Is(err, ErrStale) {
		t.Fatalf("Verify = %v, want ErrStale", err)
	}
	e.v.MaxAge = 12 * time.Minute
	if err := e.v.Verify(context.Background(), m); err != nil {
		t.Fatalf("Verify = %v", err)
	}
}

// Stale and untrusted messages are refused without fetching anything.
func TestVerifier_Verify_noFetchForJunk(t *testing.T) {
	e := newVerifyEnv(t)
	m := withTimestamp(notification("n1", sampleAlarm), now.Add(-2*time.Hour))
	m.SigningCertURL = e.certURL
	sign(t, testKey(t), &m, "1")
	if err := e.v.Verify(context.Background(), m); !errors.Is(err, ErrStale) {
		t.Fatalf("Verify = %v, want ErrStale", err)
	}
	m.SigningCertURL = e.srv.URL + "/other.pem"
	m.Timestamp = now.Format(time.RFC3339)
	if err := e.v.Verify(context.Background(), m); !errors.Is(err, ErrUntrustedCert) {
		t.Fatalf("Verify = %v, want ErrUntrustedCert", err)
	}
	if n := e.srv.total.Load(); n != 0 {
		t.Errorf("%d requests to the certificate server, want 0", n)
	}
}

func TestVerifier_Verify_certCache(t *testing.T) {
	e := newVerifyEnv(t)
	k := testKey(t)
	for i := range 5 {
		m := notification(fmt.Sprint("n", i), sampleAlarm)
		m.SigningCertURL = e.certURL
		sign(t, k, &m, "2")
		if err := e.v.Verify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.srv.count("/cert.pem"); n != 1 {
		t.Errorf("certificate fetched %d times, want 1", n)
	}

	// Forged messages do not make the verifier fetch the certificate again
	// within a minute.
	forged := notification("forged", sampleAlarm)
	forged.SigningCertURL = e.certURL
	sign(t, k, &forged, "2")
	forged.Message = strings.Replace(forged.Message, wsID, "ws-aaaaaaaa9", 1)
	for range 3 {
		if err := e.v.Verify(context.Background(), forged); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify = %v, want ErrBadSignature", err)
		}
	}
	if n := e.srv.count("/cert.pem"); n != 1 {
		t.Errorf("certificate fetched %d times, want 1", n)
	}

	// The cache holds at most certCacheSize certificates.
	pemBytes := certPEM(t, k, now.Add(-time.Hour), now.Add(time.Hour))
	for i := range certCacheSize + 4 {
		path := fmt.Sprintf("/c%d.pem", i)
		e.srv.set(path, pemBytes)
		e.v.TrustedCertURLs = append(e.v.TrustedCertURLs, e.srv.URL+path)
		m := notification(fmt.Sprint("c", i), sampleAlarm)
		m.SigningCertURL = e.srv.URL + path
		sign(t, k, &m, "1")
		if err := e.v.Verify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.v.lru.Len(); n != certCacheSize || len(e.v.certs) != certCacheSize {
		t.Errorf("cache holds %d (%d) certificates, want %d", n, len(e.v.certs), certCacheSize)
	}
}

// A certificate URL that starts serving a new certificate (the emulator
// restarted with a new key) is fetched again, but at most once a minute.
func TestVerifier_Verify_rotatedCert(t *testing.T) {
	e := newVerifyEnv(t)
	old := testKey(t)
	m := notification("n1", sampleAlarm)
	m.SigningCertURL = e.certURL
	sign(t, old, &m, "2")
	if err := e.v.Verify(context.Background(), m); err != nil {
		t.Fatal(err)
	}

	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.set("/cert.pem", certPEM(t, newKey, now.Add(-time.Hour), now.Add(24*time.Hour)))
	m2 := notification("n2", sampleAlarm)
	m2.SigningCertURL = e.certURL
	sign(t, newKey, &m2, "2")
	if err := e.v.Verify(context.Background(), m2); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify within a minute of the fetch = %v, want ErrBadSignature", err)
	}
	*e.clock = now.Add(time.Minute)
	if err := e.v.Verify(context.Background(), m2); err != nil {
		t.Fatalf("Verify a minute later = %v", err)
	}
	if n := e.srv.count("/cert.pem"); n != 2 {
		t.Errorf("certificate fetched %d times, want 2", n)
	}
}

func TestVerifier_Verify_badCerts(t *testing.T) {
	e := newVerifyEnv(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.set("/ec.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	e.srv.set("/junk.pem", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.set("/small.pem", certPEM(t, small, now.Add(-time.Hour), now.Add(time.Hour)))

	for _, path := range []string{"/ec.pem", "/junk.pem", "/small.pem", "/missing.pem"} {
		t.Run(path, func(t *testing.T) {
			m := notification("n1", sampleAlarm)
			m.SigningCertURL = e.srv.URL + path
			k := testKey(t)
			if path == "/small.pem" {
				k = small
			}
			sign(t, k, &m, "2")
			if err := e.v.Verify(context.Background(), m); !errors.Is(err, ErrUntrustedCert) {
				t.Fatalf("Verify = %v, want ErrUntrustedCert", err)
			}
		})
	}
}

// A certificate URL that cannot be reached is a transient error of no kind,
// and redirects are not followed.
func TestVerifier_Verify_fetchFailures(t *testing.T) {
	e := newVerifyEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/cert.pem"
	dead.Close()
	redirect := httptest.NewServer(http.RedirectHandler(e.certURL, http.StatusFound))
	defer redirect.Close()
	e.v.TrustedCertURLs = append(e.v.TrustedCertURLs, deadURL, redirect.URL+"/cert.pem")

	m := notification("n1", sampleAlarm)
	m.SigningCertURL = deadURL
	sign(t, testKey(t), &m, "1")
	err := e.v.Verify(context.Background(), m)
	if err == nil {
		t.Fatal("Verify succeeded with an unreachable certificate")
	}
	for _, kind := range []error{ErrMalformed, ErrUnsigned, ErrUntrustedCert, ErrBadSignature, ErrStale} {
		if errors.Is(err, kind) {
			t.Errorf("Verify = %v, which is %v; want a transient error", err, kind)
		}
	}

	m.SigningCertURL = redirect.URL + "/cert.pem"
	if err := e.v.Verify(context.Background(), m); !errors.Is(err, ErrUntrustedCert) {
		t.Errorf("Verify through a redirect = %v, want ErrUntrustedCert", err)
	}
	if n := e.srv.count("/cert.pem"); n != 0 {
		t.Errorf("redirect followed: %d fetches", n)
	}
}

// Production trusts AWS hosts only: the zero Verifier refuses the emulator's
// certificate URL.
func TestVerifier_Verify_zeroTrustsAWSOnly(t *testing.T) {
	e := newVerifyEnv(t)
	m := notification("n1", sampleAlarm)
	m.SigningCertURL = e.certURL
	sign(t, testKey(t), &m, "1")
	v := &Verifier{Now: clock}
	if err := v.Verify(context.Background(), m); !errors.Is(err, ErrUntrustedCert) {
		t.Fatalf("Verify = %v, want ErrUntrustedCert", err)
	}
}
