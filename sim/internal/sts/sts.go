// Package sts emulates the one AWS STS operation tools use to check their credentials and find
// their account: GetCallerIdentity (query protocol, 2011-06-15). Whatever the credentials, the
// caller is the IAM user deskpilot-sim of the emulated account.
package sts

import (
	"crypto/sha256"
	"encoding/xml"
	"net/http"

	"github.com/deskpilot/deskpilot/sim/internal/wire"
)

// QueryNamespace is the XML namespace of STS responses.
const QueryNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// userName is the IAM user every caller of the emulator is.
const userName = "deskpilot-sim"

// Backend answers STS requests for one account. It has no mutable state.
type Backend struct {
	accountID string
	userID    string
}

// New returns the STS backend of the account accountID.
func New(accountID string) *Backend {
	return &Backend{accountID: accountID, userID: userID(accountID)}
}

// ServeQuery answers an STS request whose form holds Action=<Op>. The router has normally parsed
// the form already.
func (b *Backend) ServeQuery(w http.ResponseWriter, r *http.Request) {
	if r.Form == nil {
		_ = r.ParseForm()
	}
	if action := r.Form.Get("Action"); action != "GetCallerIdentity" {
		wire.WriteQueryError(w, QueryNamespace,
			wire.Errorf("InvalidAction", "Could not find operation %s for version 2011-06-15.", action))
		return
	}
	wire.WriteQuery(w, getCallerIdentityResponse{
		Xmlns: QueryNamespace,
		Result: callerIdentity{
			Arn:     "arn:aws:iam::" + b.accountID + ":user/" + userName,
			UserID:  b.userID,
			Account: b.accountID,
		},
		Metadata: responseMetadata{RequestID: requestID(w)},
	})
}

type getCallerIdentityResponse struct {
	XMLName  xml.Name         `xml:"GetCallerIdentityResponse"`
	Xmlns    string           `xml:"xmlns,attr"`
	Result   callerIdentity   `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type callerIdentity struct {
	Arn     string
	UserID  string `xml:"UserId"`
	Account string
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// userID returns a unique id shaped like an IAM user's ("AIDA" and 17 characters of [A-Z2-7]),
// the same for the same account every time.
func userID(accountID string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	sum := sha256.Sum256([]byte("deskpilot-sim/" + accountID))
	id := []byte("AIDA")
	for _, c := range sum[:17] {
		id = append(id, alphabet[c%32])
	}
	return string(id)
}

// requestID returns the request id the router put on the response, or sets a new one, so that
// the id in the body matches the x-amzn-RequestId header.
func requestID(w http.ResponseWriter) string {
	h := w.Header()
	if id := h.Get("X-Amzn-Requestid"); id != "" {
		return id
	}
	id := wire.RequestID()
	h.Set("X-Amzn-Requestid", id)
	return id
}
