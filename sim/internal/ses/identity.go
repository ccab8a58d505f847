package ses

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/mail"
	"slices"
	"strings"
)

// kind is what an identity names: one email address or a whole domain.
type kind int

const (
	kindEmail kind = iota
	kindDomain
)

// v1 is the kind as SES v1 spells it (IdentityType).
func (k kind) v1() string {
	if k == kindDomain {
		return "Domain"
	}
	return "EmailAddress"
}

// v2 is the kind as SESv2 spells it (IdentityType).
func (k kind) v2() string {
	if k == kindDomain {
		return "DOMAIN"
	}
	return "EMAIL_ADDRESS"
}

func kindOf(name string) kind {
	if strings.Contains(name, "@") {
		return kindEmail
	}
	return kindDomain
}

// identity is a verified email address or domain. Verification in the emulator succeeds at once,
// so every stored identity is verified.
type identity struct {
	name  string // as first given
	kind  kind
	token string // domain verification token (v1); empty for addresses
	tags  []tag
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// identityKey is how SES compares identities: domains ignore case, and so does the domain part of
// an address, but the local part of an address is case-sensitive.
func identityKey(name string) string {
	at := strings.LastIndexByte(name, '@')
	if at < 0 {
		return strings.ToLower(name)
	}
	return name[:at+1] + strings.ToLower(name[at+1:])
}

// addIdentity stores a verified identity unless it exists, and returns it. The caller holds b.mu.
func (b *Backend) addIdentity(name string, k kind) *identity {
	key := identityKey(name)
	if id, ok := b.identities[key]; ok {
		return id
	}
	id := &identity{name: name, kind: k}
	if k == kindDomain {
		id.token = verificationToken()
	}
	b.identities[key] = id
	return id
}

// verified reports whether addr (a bare address) may send: it or its domain, or a parent domain,
// is a verified identity. The caller holds b.mu.
func (b *Backend) verified(addr string) bool {
	if _, ok := b.identities[identityKey(addr)]; ok {
		return true
	}
	domain := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	for {
		if id, ok := b.identities[domain]; ok && id.kind == kindDomain {
			return true
		}
		_, parent, ok := strings.Cut(domain, ".")
		if !ok || !strings.Contains(parent, ".") {
			return false
		}
		domain = parent
	}
}

// sortedIdentities returns the identities for which keep is true, ordered by key, the order in
// which list operations page through them. The caller holds b.mu.
func (b *Backend) sortedIdentities(keep func(*identity) bool) []*identity {
	var out []*identity
	for _, id := range b.identities {
		if keep(id) {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b *identity) int { return strings.Compare(identityKey(a.name), identityKey(b.name)) })
	return out
}

var errBadToken = errors.New("invalid NextToken")

// page returns at most size identities of sorted that come after token, and the token for the
// next page ("" on the last page). Tokens name the last identity returned, so deleting
// identities between calls neither repeats nor skips the others.
func page(sorted []*identity, token string, size int) ([]*identity, string, error) {
	start := 0
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(after) == 0 {
			return nil, "", errBadToken
		}
		start, _ = slices.BinarySearchFunc(sorted, string(after), func(id *identity, key string) int {
			return strings.Compare(identityKey(id.name), key)
		})
		if start < len(sorted) && identityKey(sorted[start].name) == string(after) {
			start++
		}
	}
	end := min(start+size, len(sorted))
	out := sorted[start:end]
	if end == len(sorted) {
		return out, "", nil
	}
	return out, base64.RawURLEncoding.EncodeToString([]byte(identityKey(out[len(out)-1].name))), nil
}

// verificationToken returns a domain verification token shaped like SES's: 32 random bytes in
// base64.
func verificationToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// checkAddress validates one address as SES does (a display name is allowed, MIME-encoded if it
// is not ASCII). It returns the bare address, or AWS's description of what is wrong with it.
func checkAddress(s string) (addr, problem string) {
	if !strings.Contains(s, "@") {
		return "", "Missing final '@domain'"
	}
	if !isASCII(s) {
		return "", "Email address contains non-ASCII characters: encode display names as MIME encoded-words and domains as Punycode."
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", "Illegal address"
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	if !validDomain(domain) {
		return "", "Domain contains illegal character"
	}
	return a.Address, ""
}

// validDomain reports whether s is a DNS name of letters, digits and hyphens (Punycode for
// international names), as SES requires of domain identities and address domains.
func validDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
