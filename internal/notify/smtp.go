package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// TLS modes of an SMTPConfig.
const (
	// TLSNone sends in clear text. Only for a relay on localhost.
	TLSNone = "none"
	// TLSStartTLS upgrades the connection with STARTTLS and refuses to send
	// if the server does not offer it. The default.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit = "tls"
)

// DefaultSMTPTimeout bounds connecting to the SMTP server and each command
// sent to it, when SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig says how to reach an SMTP server. The zero value of every field
// but Host is usable.
type SMTPConfig struct {
	// Host is the server's name or address. Required.
	Host string
	// Port defaults to 25 for TLSNone, 587 for TLSStartTLS, 465 for TLSImplicit.
	Port int
	// Username and Password, when Username is set, authenticate with the
	// strongest mechanism the server offers.
	Username, Password string
	// TLS is TLSNone, TLSStartTLS or TLSImplicit; empty means TLSStartTLS.
	// Certificates are verified against Host.
	TLS string
	// Timeout bounds connecting and each SMTP command; 0 means
	// DefaultSMTPTimeout. A deadline on the context passed to Send shortens it.
	Timeout time.Duration
}

// SMTPSender sends notices as mail through an SMTP server, one connection
// per message.
type SMTPSender struct {
	cfg  SMTPConfig
	from string
	to   []string
	// tlsConfig replaces the default (verify against cfg.Host); for tests.
	tlsConfig *tls.Config
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTP returns a sender that mails every notice from from to each address
// in to through the server cfg describes. It checks the configuration and the
// addresses but does not connect.
func NewSMTP(cfg SMTPConfig, from string, to []string) (*SMTPSender, error) {
	var errs []error
	if cfg.Host == "" {
		errs = append(errs, errors.New("smtp: no host"))
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	defaultPort := map[string]int{TLSNone: 25, TLSStartTLS: 587, TLSImplicit: 465}
	switch p, ok := defaultPort[cfg.TLS]; {
	case !ok:
		errs = append(errs, fmt.Errorf("smtp: unknown TLS mode %q (want %q, %q or %q)", cfg.TLS, TLSNone, TLSStartTLS, TLSImplicit))
	case cfg.Port == 0:
		cfg.Port = p
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("smtp: port %d out of range", cfg.Port))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("smtp: negative timeout %s", cfg.Timeout))
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	if err := checkAddresses(from, to); err != nil {
		errs = append(errs, fmt.Errorf("smtp: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &SMTPSender{cfg: cfg, from: from, to: append([]string(nil), to...)}, nil
}

// Name returns "smtp".
func (s *SMTPSender) Name() string { return "smtp" }

// Send renders n and delivers it in one SMTP session. The message is
// multipart/alternative (text and HTML) with a Message-ID (MessageID(n.ID)),
// HeaderNotice and Date derived from n, so a resend is recognisably the same
// message.
//
// Errors are go-mail's: a reply from the server keeps its code (a
// *textproto.Error, or go-mail's *SendError with ErrorCode), which
// fault.Classify reads. The few SendErrors without a code are go-mail's
// verdict on the message itself and are marked Invalid here.
func (s *SMTPSender) Send(ctx context.Context, n Notice) error {
	e, err := RenderEmail(n, s.from, s.to)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	msg, err := s.message(e, n.Time)
	if err != nil {
		return fmt.Errorf("smtp: notice %q: %w", n.ID, err)
	}
	client, err := s.client(ctx)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if msg.IsDelivered() {
			// The server accepted the message; only QUIT or RSET failed.
			// Reporting an error would send it again.
			return nil
		}
		return fmt.Errorf("smtp %s:%d: notice %q: %w", s.cfg.Host, s.cfg.Port, n.ID, markMessageErrors(err))
	}
	return nil
}

// markMessageErrors marks Invalid the go-mail errors that carry no reply code
// and are about the message, not the server: its sender or recipients could
// not be read, or it needs 8BITMIME the server lacks. fault.Classify would
// call them Transient, and they would be retried for ever.
func markMessageErrors(err error) error {
	se, ok := errors.AsType[*mail.SendError](err)
	if !ok || se.ErrorCode() != 0 {
		return err
	}
	switch se.Reason {
	case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
		return fault.Mark(err, fault.Invalid)
	}
	return err
}

func (s *SMTPSender) message(e Email, date time.Time) (*mail.Msg, error) {
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(e.From); err != nil {
		return nil, Permanent(err)
	}
	if err := m.To(e.To...); err != nil {
		return nil, Permanent(err)
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(e.MessageID[1 : len(e.MessageID)-1])
	if date.IsZero() {
		m.SetDate()
	} else {
		m.SetDateWithValue(date)
	}
	m.SetUserAgent("deskpilot")
	for k, v := range e.Headers {
		m.SetGenHeader(mail.Header(k), v)
	}
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	return m, nil
}

// client builds a go-mail client for one send. Its timeout is the shorter of
// the configured one and what is left before ctx's deadline, because go-mail
// only consults the context while dialling.
func (s *SMTPSender) client(ctx context.Context) (*mail.Client, error) {
	timeout := s.cfg.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	opts := []mail.Option{
		mail.WithPort(s.cfg.Port),
		mail.WithTimeout(timeout),
	}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	}
	if s.tlsConfig != nil {
		opts = append(opts, mail.WithTLSConfig(s.tlsConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(s.cfg.Username),
			mail.WithPassword(s.cfg.Password))
	}
	return mail.NewClient(s.cfg.Host, opts...)
}
