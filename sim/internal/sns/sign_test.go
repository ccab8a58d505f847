package sns

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"
	"time"
)

func TestStringToSign(t *testing.T) {
	cases := []struct {
		name string
		msg  map[string]string
		want string
	}{
		{"notification with subject",
			map[string]string{"Type": "Notification", "MessageId": "id", "TopicArn": "arn", "Subject": "s", "Message": "m\nx", "Timestamp": "t", "UnsubscribeURL": "u"},
			"Message\nm\nx\nMessageId\nid\nSubject\ns\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n"},
		{"notification without subject",
			map[string]string{"Type": "Notification", "MessageId": "id", "TopicArn": "arn", "Message": "m", "Timestamp": "t"},
			"Message\nm\nMessageId\nid\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n"},
		{"confirmation",
			map[string]string{"Type": "SubscriptionConfirmation", "MessageId": "id", "TopicArn": "arn", "Message": "m", "Timestamp": "t", "Token": "tok", "SubscribeURL": "u", "Subject": "ignored"},
			"Message\nm\nMessageId\nid\nSubscribeURL\nu\nTimestamp\nt\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n"},
		{"unknown type", map[string]string{"Type": "Other", "Message": "m"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := StringToSign(c.msg); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestSign(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sg, err := newSigner(now, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(sg.certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.SignatureAlgorithm != x509.SHA256WithRSA || cert.NotBefore.After(now) || cert.PublicKey.(*rsa.PublicKey).N.BitLen() != 2048 {
		t.Errorf("certificate: %v, from %v, %d bits", cert.SignatureAlgorithm, cert.NotBefore, cert.PublicKey.(*rsa.PublicKey).N.BitLen())
	}
	for _, v := range []string{"1", "2"} {
		m := &envelope{Type: TypeNotification, MessageId: "id", TopicArn: "arn", Subject: "s", Message: "m", Timestamp: "t", SignatureVersion: v}
		sig, err := sg.sign(m)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(sig)
		data := []byte(StringToSign(m.fields()))
		if v == "1" {
			sum := sha1.Sum(data)
			err = rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA1, sum[:], raw)
		} else {
			sum := sha256.Sum256(data)
			err = rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], raw)
		}
		if err != nil {
			t.Errorf("SignatureVersion %s: %v", v, err)
		}
	}
}

func TestWaitHonoursContext(t *testing.T) {
	b := New(time.Now, "us-east-1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx, 1); err == nil {
		t.Error("Wait returned nil with nothing delivered")
	}
	if err := b.Wait(context.Background(), 0); err != nil {
		t.Errorf("Wait for 0: %v", err)
	}
}
