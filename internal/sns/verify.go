package sns

import (
	"container/list"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Defaults and limits of a Verifier.
const (
	// DefaultMaxAge is how old a message's Timestamp may be when MaxAge is
	// zero. SNS stops retrying an HTTP(S) delivery after at most an hour.
	DefaultMaxAge = time.Hour
	// MaxClockSkew is how far in the future a Timestamp may be.
	MaxClockSkew = 5 * time.Minute
	// DefaultFetchTimeout bounds a certificate fetch (and a subscription
	// confirmation) when no Client is given.
	DefaultFetchTimeout = 10 * time.Second

	certCacheSize       = 16          // certificates kept, by URL
	certRefetchInterval = time.Minute // see Verify, steps 4 and 5
	maxCertBytes        = 64 << 10    // a PEM certificate is a few KiB
	minRSABits          = 2048
)

// snsHost matches the host of an AWS SNS endpoint: sns.<region>.amazonaws.com
// or, in China, sns.<region>.amazonaws.com.cn. No port, no trailing dot, lower
// case only.
var snsHost = regexp.MustCompile(`^sns\.[a-z]{2}(-[a-z]+)+-[0-9]{1,2}\.amazonaws\.com(\.cn)?$`)

// Verifier checks that SNS messages are authentic and fresh. The zero value
// trusts AWS's certificates only, and is safe for concurrent use; its fields
// must not change once Verify has been called.
type Verifier struct {
	// TrustedCertURLs are certificate URLs trusted besides AWS's own
	// (https://sns.<region>.amazonaws.com[.cn]/….pem): used only for the
	// emulator, and only when the config names them explicitly. A URL is
	// trusted only if it equals one of these exactly.
	TrustedCertURLs []string
	// Client fetches certificates; nil means a client with a
	// DefaultFetchTimeout timeout. Redirects are never followed, whatever
	// the client says.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAge is the freshness window for Timestamp; zero or negative means
	// DefaultMaxAge. Timestamps up to MaxClockSkew in the future pass.
	MaxAge time.Duration

	mu    sync.Mutex
	certs map[string]*list.Element // of *cachedCert, most recently used first
	lru   list.List
}

type cachedCert struct {
	url     string
	cert    *x509.Certificate
	fetched time.Time
}

// Verify checks m, returning nil only if every step passes:
//
//  1. SignatureVersion is "1" (SHA-1) or "2" (SHA-256) and Signature is not
//     empty, else ErrUnsigned.
//  2. SigningCertURL passes CheckCertURL, else ErrUntrustedCert.
//  3. Timestamp is within [now-MaxAge, now+MaxClockSkew], else ErrStale.
//     This comes before any network access, so stale or forged junk costs
//     nothing.
//  4. The certificate is fetched (or taken from the cache of the 16 most
//     recently used), and must be an X.509 PEM certificate that is valid
//     now, with an RSA key of at least 2048 bits, else ErrUntrustedCert. Its
//     issuer is not checked: trust comes from fetching it over HTTPS from an
//     AWS SNS host (or from an explicitly configured URL).
//  5. Signature is valid base64 and an RSA PKCS #1 v1.5 signature of
//     StringToSign(m), else ErrBadSignature. If a cached certificate fails
//     step 4 or 5 and was fetched at least a minute ago, it is fetched
//     again and both steps are retried once.
//
// A certificate URL that cannot be reached at all (connection refused,
// timeout) is reported as a plain error, not one of the kinds above: the
// message may well be genuine, so the caller should ask SNS to retry.
// Verify does not check TopicArn; Handler does.
func (v *Verifier) Verify(ctx context.Context, m Message) error {
	// 1. Signature version.
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	case "":
		return fmt.Errorf("%w: no SignatureVersion", ErrUnsigned)
	default:
		return fmt.Errorf("%w: unknown SignatureVersion %q", ErrUnsigned, m.SignatureVersion)
	}
	if m.Signature == "" {
		return fmt.Errorf("%w: empty Signature", ErrUnsigned)
	}
	text, err := StringToSign(m)
	if err != nil {
		return err
	}

	// 2. Certificate URL.
	if err := v.CheckCertURL(m.SigningCertURL); err != nil {
		return err
	}

	// 3. Freshness.
	ts, err := parseTimestamp(m.Timestamp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	now := v.now()
	maxAge := v.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if age := now.Sub(ts); age > maxAge {
		return fmt.Errorf("%w: Timestamp %s is %s old, more than %s", ErrStale, m.Timestamp, age.Round(time.Second), maxAge)
	}
	if ahead := ts.Sub(now); ahead > MaxClockSkew {
		return fmt.Errorf("%w: Timestamp %s is %s in the future", ErrStale, m.Timestamp, ahead.Round(time.Second))
	}

	// 4 and 5. Certificate and signature. A cached certificate that fails
	// is fetched again (at most once a minute per URL), in case the URL now
	// serves a new one, as the emulator's does after a restart.
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("%w: Signature is not base64", ErrBadSignature)
	}
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(text))
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(text))
		digest = d[:]
	}
	check := func(refresh bool) (cached bool, err error) {
		cert, cached, err := v.cert(ctx, m.SigningCertURL, now, refresh)
		if err != nil {
			return false, err
		}
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			return cached, fmt.Errorf("%w: certificate %s is valid from %s to %s, not now", ErrUntrustedCert,
				m.SigningCertURL, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
		}
		pub := cert.PublicKey.(*rsa.PublicKey) // checked by fetchCert
		if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
			return cached, fmt.Errorf("%w: message %s does not match its signature", ErrBadSignature, m.MessageID)
		}
		return cached, nil
	}
	cached, err := check(false)
	if err != nil && cached && v.mayRefetch(m.SigningCertURL, now) {
		_, err = check(true)
	}
	return err
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// CheckCertURL reports whether raw may be fetched as a signing certificate:
// either it equals one of TrustedCertURLs exactly, or it is
// https://sns.<region>.amazonaws.com[.cn]/<path>.pem with no user
// information, port, query or fragment, and no ".." in the path. Anything
// else wraps ErrUntrustedCert.
func (v *Verifier) CheckCertURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("%w: no SigningCertURL", ErrUntrustedCert)
	}
	if contains(v.TrustedCertURLs, raw) {
		return nil
	}
	u, err := awsURL(raw)
	if err != nil {
		return fmt.Errorf("%w: SigningCertURL %q: %w", ErrUntrustedCert, raw, err)
	}
	switch {
	case u.RawQuery != "" || u.ForceQuery:
		err = errors.New("has a query")
	case !strings.HasSuffix(u.Path, ".pem"):
		err = errors.New("path does not end in .pem")
	}
	if err != nil {
		return fmt.Errorf("%w: SigningCertURL %q %w", ErrUntrustedCert, raw, err)
	}
	return nil
}

// CheckSubscribeURL reports whether raw may be fetched to confirm a
// subscription: an https URL on an AWS SNS host (as for certificates, but
// with any path and query), or a URL whose scheme and host (with port) equal
// those of one of TrustedCertURLs. Anything else wraps ErrUntrustedCert.
func (v *Verifier) CheckSubscribeURL(raw string) error {
	if _, err := awsURL(raw); err == nil {
		return nil
	}
	u, err := url.Parse(raw)
	if err == nil && u.User == nil && u.Host != "" && !hasUnsafeBytes(raw) {
		for _, t := range v.TrustedCertURLs {
			tu, err := url.Parse(t)
			if err == nil && tu.Host != "" && tu.Scheme == u.Scheme && tu.Host == u.Host {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: SubscribeURL %q is not on an AWS SNS host", ErrUntrustedCert, raw)
}

// awsURL parses raw and checks it is https on an AWS SNS host, with nothing
// that could make a client go elsewhere.
func awsURL(raw string) (*url.URL, error) {
	if hasUnsafeBytes(raw) {
		return nil, errors.New("has spaces, control characters or backslashes")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("is not a URL")
	case u.Scheme != "https":
		return nil, errors.New("is not https")
	case u.Opaque != "" || u.User != nil:
		return nil, errors.New("has user information")
	case !snsHost.MatchString(u.Host):
		return nil, errors.New("is not on an AWS SNS host (sns.<region>.amazonaws.com, no port)")
	case u.Fragment != "" || u.RawFragment != "":
		return nil, errors.New("has a fragment")
	case !strings.HasPrefix(u.Path, "/") || contains(strings.Split(u.Path, "/"), ".."):
		return nil, errors.New("has a relative path")
	}
	return u, nil
}

func hasUnsafeBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return true
		}
	}
	return false
}

// cert returns the certificate at rawURL, from the cache unless refresh is
// set, and whether it came from the cache. Concurrent first fetches of one
// URL may both go to the network; the last one is kept.
func (v *Verifier) cert(ctx context.Context, rawURL string, now time.Time, refresh bool) (*x509.Certificate, bool, error) {
	if !refresh {
		v.mu.Lock()
		if e, ok := v.certs[rawURL]; ok {
			v.lru.MoveToFront(e)
			c := e.Value.(*cachedCert).cert
			v.mu.Unlock()
			return c, true, nil
		}
		v.mu.Unlock()
	}

	c, err := v.fetchCert(ctx, rawURL)
	if err != nil {
		return nil, false, err
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.certs == nil {
		v.certs = map[string]*list.Element{}
	}
	entry := &cachedCert{url: rawURL, cert: c, fetched: now}
	if e, ok := v.certs[rawURL]; ok {
		v.lru.Remove(e)
	}
	v.certs[rawURL] = v.lru.PushFront(entry)
	for v.lru.Len() > certCacheSize {
		e := v.lru.Back()
		v.lru.Remove(e)
		delete(v.certs, e.Value.(*cachedCert).url)
	}
	return c, false, nil
}

// mayRefetch reports whether the cached certificate for rawURL was fetched
// long enough ago to be fetched again, so that forged messages cannot make
// deskpilot hammer a certificate URL.
func (v *Verifier) mayRefetch(rawURL string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.certs[rawURL]
	return ok && now.Sub(e.Value.(*cachedCert).fetched) >= certRefetchInterval
}

// client returns the HTTP client for certificates and confirmations, never
// following redirects: the URL was checked, its redirect target was not.
func (v *Verifier) client() *http.Client {
	c := http.Client{Timeout: DefaultFetchTimeout}
	if v.Client != nil {
		c = *v.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// fetchCert GETs and parses the certificate at rawURL. Transport failures
// are returned as they are (transient); anything the server says that is not
// a usable certificate is ErrUntrustedCert.
func (v *Verifier) fetchCert(ctx context.Context, rawURL string) (*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: SigningCertURL %q: %w", ErrUntrustedCert, rawURL, err)
	}
	resp, err := v.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch signing certificate %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: %s", ErrUntrustedCert, rawURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCertBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch signing certificate %s: %w", rawURL, err)
	}
	if len(body) > maxCertBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrUntrustedCert, rawURL, maxCertBytes)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrUntrustedCert, rawURL)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUntrustedCert, rawURL, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s has a %T key, not RSA", ErrUntrustedCert, rawURL, cert.PublicKey)
	}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("%w: %s has a %d-bit RSA key, fewer than %d", ErrUntrustedCert, rawURL, pub.N.BitLen(), minRSABits)
	}
	return cert, nil
}
