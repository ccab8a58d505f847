package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// received is one message an smtpServer accepted.
type received struct {
	From string
	To   []string
	Data []byte
}

// smtpServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// records what it accepts and can be told to refuse.
type smtpServer struct {
	Addr     string
	Host     string
	Port     int
	RootCAs  *x509.CertPool // trusts the server's certificate when TLS is on
	rejectAt string         // "mail", "rcpt" or "data"
	reject   *smtp.SMTPError
	user     string // when set, AUTH PLAIN with user/pass is required
	pass     string

	mu   sync.Mutex
	msgs []received
}

// startSMTP starts a server; mode is TLSNone (plain, no STARTTLS),
// TLSStartTLS (offers STARTTLS) or TLSImplicit (TLS from the first byte).
// setup, if not nil, configures the server before it accepts connections.
func startSMTP(t *testing.T, mode string, setup func(*smtpServer)) *smtpServer {
	t.Helper()
	ts := &smtpServer{}
	if setup != nil {
		setup(ts)
	}
	srv := smtp.NewServer(ts)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode != TLSNone {
		// Borrow httptest's certificate, valid for 127.0.0.1.
		hs := httptest.NewTLSServer(http.NotFoundHandler())
		cert, leaf := hs.TLS.Certificates[0], hs.Certificate()
		hs.Close()
		ts.RootCAs = x509.NewCertPool()
		ts.RootCAs.AddCert(leaf)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if mode == TLSImplicit {
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	ts.Addr = ln.Addr().String()
	ts.Host = "127.0.0.1"
	ts.Port = ln.Addr().(*net.TCPAddr).Port
	return ts
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{srv: s}, nil
}

type smtpSession struct {
	srv    *smtpServer
	authed bool
	msg    received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) check(stage string) error {
	if s.srv.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	if s.srv.rejectAt == stage {
		return s.srv.reject
	}
	return nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if err := s.check("mail"); err != nil {
		return err
	}
	s.msg = received{From: from}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.check("rcpt"); err != nil {
		return err
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.check("data"); err != nil {
		return err
	}
	s.msg.Data = b
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.msg = received{} }
func (s *smtpSession) Logout() error { return nil }

// newTestSMTP returns a sender aimed at srv.
func newTestSMTP(t *testing.T, srv *smtpServer, mode string, user, pass string) *SMTPSender {
	t.Helper()
	s, err := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: mode, Username: user, Password: pass},
		"deskpilot@example.com", []string{"ops@example.com", "oncall@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.RootCAs != nil {
		s.tlsConfig = &tls.Config{ServerName: srv.Host, RootCAs: srv.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return s
}

func TestSMTPSender_Send(t *testing.T) {
	tests := []struct {
		mode       string
		user, pass string
	}{
		{mode: TLSNone},
		{mode: TLSStartTLS, user: "deskpilot", pass: "s3cret"},
		{mode: TLSImplicit, user: "deskpilot", pass: "s3cret"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			srv := startSMTP(t, tc.mode, func(s *smtpServer) { s.user, s.pass = tc.user, tc.pass })
			s := newTestSMTP(t, srv, tc.mode, tc.user, tc.pass)
			n := pendingNotice()
			if err := s.Send(context.Background(), n); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if diff := cmp.Diff(received{From: "deskpilot@example.com", To: []string{"ops@example.com", "oncall@example.com"}},
				got, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Data" }, cmp.Ignore())); diff != "" {
				t.Errorf("envelope mismatch (-want +got):\n%s", diff)
			}
			checkMIME(t, got.Data, n)
		})
	}
}

// checkMIME parses a received message and checks its headers and parts.
func checkMIME(t *testing.T, data []byte, n Notice) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, data)
	}
	want, err := RenderEmail(n, "deskpilot@example.com", []string{"ops@example.com", "oncall@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{}
	for _, k := range []string{"Message-Id", "X-Deskpilot-Notice", "X-Deskpilot-Kind", "X-Deskpilot-Severity", "Auto-Submitted"} {
		headers[k] = m.Header.Get(k)
	}
	wantHeaders := map[string]string{
		"Message-Id":           MessageID(n.ID),
		"X-Deskpilot-Notice":   n.ID,
		"X-Deskpilot-Kind":     n.Kind,
		"X-Deskpilot-Severity": n.Severity,
		"Auto-Submitted":       "auto-generated",
	}
	if diff := cmp.Diff(wantHeaders, headers); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	if subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil || subj != n.Subject {
		t.Errorf("Subject = %q (%v), want %q", subj, err, n.Subject)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Address != "oncall@example.com" {
		t.Errorf("To = %v (%v), want ops@ and oncall@", to, err)
	}
	if date, err := m.Header.Date(); err != nil || !date.Equal(n.Time) {
		t.Errorf("Date = %v (%v), want %v", date, err, n.Time)
	}
	parts := mimeParts(t, m.Header.Get("Content-Type"), m.Body)
	if diff := cmp.Diff(map[string]string{"text/plain": want.Text, "text/html": want.HTML}, parts); diff != "" {
		t.Errorf("MIME parts mismatch (-want +got):\n%s", diff)
	}
}

// mimeParts returns the decoded body of every leaf part by media type.
func mimeParts(t *testing.T, contentType string, body io.Reader) map[string]string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("top-level Content-Type is %q, want multipart", mt)
	}
	out := map[string]string{}
	r := multipart.NewReader(body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		var rd io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			rd = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			t.Fatal(err)
		}
		out[pt] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
}

func TestSMTPSender_Refused(t *testing.T) {
	tests := []struct {
		name      string
		stage     string
		code      int
		class     fault.Class
		permanent bool
	}{
		{"MAIL 550", "mail", 550, fault.Invalid, true},
		{"RCPT 550", "rcpt", 550, fault.Invalid, true},
		{"MAIL 451", "mail", 451, fault.Throttled, false},
		{"RCPT 452", "rcpt", 452, fault.Throttled, false},
		{"RCPT 450", "rcpt", 450, fault.Throttled, false},
		{"MAIL 454", "mail", 454, fault.Transient, false},
		{"MAIL 530", "mail", 530, fault.Denied, false},
		{"DATA 554", "data", 554, fault.Invalid, true},
		{"DATA 451", "data", 451, fault.Throttled, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, TLSNone, func(s *smtpServer) {
				s.rejectAt = tc.stage
				s.reject = &smtp.SMTPError{Code: tc.code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "no thanks"}
			})
			s := newTestSMTP(t, srv, TLSNone, "", "")
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
			if len(srv.messages()) != 0 {
				t.Error("server recorded a message it refused")
			}
		})
	}
}

func TestSMTPSender_Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone}, "d@example.com", []string{"o@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), pendingNotice())
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want false: the server may come back", err)
	}
}

func TestSMTPSender_StartTLSRequired(t *testing.T) {
	// A server that does not offer STARTTLS must not get the message in clear.
	srv := startSMTP(t, TLSNone, nil)
	s := newTestSMTP(t, srv, TLSStartTLS, "", "")
	if err := s.Send(context.Background(), pendingNotice()); err == nil {
		t.Fatal("Send succeeded without STARTTLS")
	}
	if len(srv.messages()) != 0 {
		t.Error("message sent in clear text")
	}
}

func TestSMTPSender_BadCredentials(t *testing.T) {
	srv := startSMTP(t, TLSStartTLS, func(s *smtpServer) { s.user, s.pass = "deskpilot", "right" })
	s := newTestSMTP(t, srv, TLSStartTLS, "deskpilot", "wrong")
	err := s.Send(context.Background(), pendingNotice())
	if err == nil {
		t.Fatal("Send succeeded with a wrong password")
	}
	// 535: an operator fixes the password, and the mail that waited goes out.
	if got := fault.Classify(err); got != fault.Denied {
		t.Errorf("Classify(%v) = %s, want denied (535)", err, got)
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want false: a wrong password must not drop the mail", err)
	}
}

// A resend must be recognisable: the same Message-ID and X-Deskpilot-Notice every time.
func TestSMTPSender_ResendCarriesSameIDs(t *testing.T) {
	srv := startSMTP(t, TLSNone, nil)
	s := newTestSMTP(t, srv, TLSNone, "", "")
	n := pendingNotice()
	for range 2 {
		if err := s.Send(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	msgs := srv.messages()
	if len(msgs) != 2 {
		t.Fatalf("server received %d messages, want 2", len(msgs))
	}
	for i, got := range msgs {
		m, err := mail.ReadMessage(strings.NewReader(string(got.Data)))
		if err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		if id := m.Header.Get("Message-Id"); id != MessageID(n.ID) {
			t.Errorf("message %d: Message-ID = %q, want %q", i+1, id, MessageID(n.ID))
		}
		if id := m.Header.Get(HeaderNotice); id != n.ID {
			t.Errorf("message %d: %s = %q, want %q", i+1, HeaderNotice, id, n.ID)
		}
	}
}

func TestNewSMTP(t *testing.T) {
	to := []string{"o@example.com"}
	tests := []struct {
		name     string
		cfg      SMTPConfig
		from     string
		to       []string
		wantErr  bool
		wantPort int
	}{
		{name: "defaults to starttls on 587", cfg: SMTPConfig{Host: "mail"}, wantPort: 587},
		{name: "none on 25", cfg: SMTPConfig{Host: "mail", TLS: TLSNone}, wantPort: 25},
		{name: "tls on 465", cfg: SMTPConfig{Host: "mail", TLS: TLSImplicit}, wantPort: 465},
		{name: "explicit port", cfg: SMTPConfig{Host: "mail", Port: 2525}, wantPort: 2525},
		{name: "no host", cfg: SMTPConfig{}, wantErr: true},
		{name: "unknown TLS", cfg: SMTPConfig{Host: "mail", TLS: "ssl"}, wantErr: true},
		{name: "bad port", cfg: SMTPConfig{Host: "mail", Port: 70000}, wantErr: true},
		{name: "negative timeout", cfg: SMTPConfig{Host: "mail", Timeout: -1}, wantErr: true},
		{name: "bad from", cfg: SMTPConfig{Host: "mail"}, from: "nope", wantErr: true},
		{name: "no recipients", cfg: SMTPConfig{Host: "mail"}, to: []string{}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := "d@example.com"
			if tc.from != "" {
				from = tc.from
			}
			rcpt := to
			if tc.to != nil {
				rcpt = tc.to
			}
			s, err := NewSMTP(tc.cfg, from, rcpt)
			if tc.wantErr {
				if err == nil {
					t.Fatal("NewSMTP succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.cfg.Port != tc.wantPort {
				t.Errorf("port = %d, want %d", s.cfg.Port, tc.wantPort)
			}
			if s.cfg.Timeout != DefaultSMTPTimeout {
				t.Errorf("timeout = %s, want %s", s.cfg.Timeout, DefaultSMTPTimeout)
			}
		})
	}
}
