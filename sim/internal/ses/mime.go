package ses

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// maxMIMEDepth bounds how deeply multipart bodies may nest.
const maxMIMEDepth = 10

// mimeMessage is what the emulator reads from a raw message: its addressing headers and the
// first plain-text and HTML bodies that are not attachments.
type mimeMessage struct {
	from        string
	to, cc, bcc []string
	subject     string
	text, html  string
}

// parseMIME reads a raw RFC 5322 message. Headers must parse, as SES requires; a damaged body
// is read as far as it goes, since SES passes bodies through untouched.
func parseMIME(data []byte) (mimeMessage, error) {
	var m mimeMessage
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return m, fmt.Errorf("header: %v", err)
	}
	from, err := addressHeader(msg.Header, "From")
	if err != nil {
		return m, err
	}
	if len(from) > 0 {
		m.from = from[0]
	}
	if m.to, err = addressHeader(msg.Header, "To"); err != nil {
		return m, err
	}
	if m.cc, err = addressHeader(msg.Header, "Cc"); err != nil {
		return m, err
	}
	if m.bcc, err = addressHeader(msg.Header, "Bcc"); err != nil {
		return m, err
	}
	m.subject = decodeHeader(msg.Header.Get("Subject"))
	m.readPart(msg.Header, msg.Body, 0)
	return m, nil
}

// addressHeader returns the addresses in the named header, each as a bare address or, with a
// display name, in the quoted form that parses back to the same address.
func addressHeader(h mail.Header, name string) ([]string, error) {
	if h.Get(name) == "" {
		return nil, nil
	}
	list, err := h.AddressList(name)
	if err != nil {
		return nil, fmt.Errorf("header %s: %v", name, err)
	}
	out := make([]string, len(list))
	for i, a := range list {
		if a.Name == "" {
			out[i] = a.Address
		} else {
			out[i] = a.String()
		}
	}
	return out, nil
}

// decodeHeader decodes RFC 2047 encoded-words, keeping the header as sent when it cannot.
func decodeHeader(s string) string {
	var d mime.WordDecoder
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

type header interface{ Get(key string) string }

// readPart records the first text/plain and text/html bodies found in a part, depth-first.
func (m *mimeMessage) readPart(h header, body io.Reader, depth int) {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain" // RFC 2045's default, and what SES assumes of a bad header
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth < maxMIMEDepth && params["boundary"] != "" {
			m.readMultipart(multipart.NewReader(body, params["boundary"]), depth+1)
		}
		return
	}
	if disposition, _, _ := mime.ParseMediaType(h.Get("Content-Disposition")); disposition == "attachment" {
		return
	}
	switch {
	case mediaType == "text/plain" && m.text == "":
		m.text = string(decodeBody(h.Get("Content-Transfer-Encoding"), body))
	case mediaType == "text/html" && m.html == "":
		m.html = string(decodeBody(h.Get("Content-Transfer-Encoding"), body))
	}
}

// readMultipart reads the parts of a multipart body until the closing boundary or the first
// damaged part.
func (m *mimeMessage) readMultipart(r *multipart.Reader, depth int) {
	for {
		// NextRawPart, not NextPart: the latter decodes quoted-printable itself but not base64.
		p, err := r.NextRawPart()
		if err != nil {
			return
		}
		m.readPart(p.Header, p, depth)
	}
}

// decodeBody undoes a Content-Transfer-Encoding, returning the body as sent if it does not
// decode.
func decodeBody(encoding string, body io.Reader) []byte {
	raw, _ := io.ReadAll(io.LimitReader(body, maxMessageBytes))
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, bytes.NewReader(raw))
	case "quoted-printable":
		r = quotedprintable.NewReader(bytes.NewReader(raw))
	default:
		return raw
	}
	decoded, err := io.ReadAll(r)
	if err != nil {
		return raw
	}
	return decoded
}
