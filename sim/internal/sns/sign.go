package sns

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// signer holds the emulator's signing key and its self-signed certificate. Generating an RSA
// key takes tens of milliseconds, so it happens on first use rather than in New: most emulators
// (and every fuzz iteration) never sign anything.
type signer struct {
	key     *rsa.PrivateKey
	certPEM []byte
}

// newSigner makes an RSA 2048 key and a certificate for it, self-signed with SHA-256 (Go
// refuses SHA-1 certificate signatures) and valid from a day before the earlier of now and the
// wall clock to ten years after the later, so that a manual clock set anywhere near today works.
func newSigner(now time.Time, region string) (*signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate SNS signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	wall := time.Now()
	from, to := now, now
	if wall.Before(from) {
		from = wall
	}
	if wall.After(to) {
		to = wall
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: "sns." + region + ".amazonaws.com", Organization: []string{"deskpilot sim"}},
		NotBefore:          from.Add(-24 * time.Hour),
		NotAfter:           to.AddDate(10, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign SNS certificate: %w", err)
	}
	return &signer{key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// sign returns the base64 signature of m's string to sign: RSA PKCS #1 v1.5 with SHA-1 for
// SignatureVersion "1", SHA-256 for "2".
func (sg *signer) sign(m *envelope) (string, error) {
	data := []byte(StringToSign(m.fields()))
	var sig []byte
	var err error
	if m.SignatureVersion == "2" {
		sum := sha256.Sum256(data)
		sig, err = rsa.SignPKCS1v15(rand.Reader, sg.key, crypto.SHA256, sum[:])
	} else {
		sum := sha1.Sum(data)
		sig, err = rsa.SignPKCS1v15(rand.Reader, sg.key, crypto.SHA1, sum[:])
	}
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// signedKeys are the members signed for each message type, in the order AWS signs them (byte
// order of the names). Subject is signed only when present.
var signedKeys = map[string][]string{
	TypeNotification:             {"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"},
	TypeSubscriptionConfirmation: {"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"},
	TypeUnsubscribeConfirmation:  {"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"},
}

// StringToSign builds what SNS signs from a message's decoded members: "Key\nValue\n" for each
// signed key present, in the fixed order for the message's Type.
func StringToSign(m map[string]string) string {
	var b strings.Builder
	for _, k := range signedKeys[m["Type"]] {
		v, ok := m[k]
		if !ok || (k == "Subject" && v == "") {
			continue
		}
		b.WriteString(k + "\n" + v + "\n")
	}
	return b.String()
}
