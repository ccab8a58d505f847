package notify

import (
	"strings"
)

// The Adaptive Card envelope Teams takes from a webhook: a message with one attachment.
const (
	teamsCardType   = "application/vnd.microsoft.card.adaptive"
	teamsCardSchema = "http://adaptivecards.io/schemas/adaptive-card.json"
	// teamsCardVersion is the newest version every Teams client renders.
	teamsCardVersion = "1.4"
)

// Limits of a Teams message. Microsoft documents 28 KB for a webhook's message, but reports
// from users put the real limit lower (near 21 KB) as Teams counts it; a body over
// teamsMaxBytes leaves out items, then fields. The per-text limits are ours: they keep a card
// readable, and with them a card without fields and items always fits.
const (
	teamsMaxBytes   = 20000
	teamsMaxTitle   = 400
	teamsMaxSummary = 2000
	teamsMaxFactKey = 200
	teamsMaxFact    = 2000
	teamsMaxItem    = 1000
)

// teamsColor is the TextBlock color of a notice's title by severity; info keeps the default.
var teamsColor = map[string]string{SeverityWarning: "Warning", SeverityError: "Attention"}

// teamsLabel names the severities in the card's last line.
var teamsLabel = map[string]string{SeverityInfo: "Info", SeverityWarning: "Warning", SeverityError: "Error"}

type teamsMessage struct {
	Type        string            `json:"type"` // "message"
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"` // null, as in Microsoft's examples
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"` // "AdaptiveCard"
	Version string         `json:"version"`
	Body    []teamsElement `json:"body"`
	// MSTeams holds Teams' own card options: a full-width card, as a table of fields needs.
	MSTeams map[string]string `json:"msteams,omitempty"`
}

// teamsElement is a TextBlock or a FactSet, the two elements teamsBody uses.
type teamsElement struct {
	Type     string      `json:"type"`
	Text     string      `json:"text,omitempty"`
	Size     string      `json:"size,omitempty"`
	Weight   string      `json:"weight,omitempty"`
	Color    string      `json:"color,omitempty"`
	IsSubtle bool        `json:"isSubtle,omitempty"`
	Wrap     bool        `json:"wrap,omitempty"`
	Spacing  string      `json:"spacing,omitempty"`
	Facts    []teamsFact `json:"facts,omitempty"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// teamsBody renders n, which is valid, as a Teams message with one Adaptive Card whose body
// is, in order:
//
//  1. the subject, in bold (in the Attention colour for an error, Warning for a warning);
//  2. the summary, if there is one;
//  3. the fields as a FactSet, if there are any;
//  4. one TextBlock per item, "• **name**: status (detail)";
//  5. a small line with the severity, the time and the notice ID.
//
// Every text is cut to its limit, and when the body would be over teamsMaxBytes the last items
// (and, if need be, fields) are left out and a line says so. Teams shows HTML as plain text, so
// no text needs escaping.
func teamsBody(n Notice) ([]byte, error) {
	var err error
	f, i := fit(len(n.Fields), len(n.Items), func(f, i int) bool {
		b, e := marshal(teamsCardOf(n, f, i))
		if e != nil {
			err = e
			return true // stop searching; the error is returned below
		}
		return len(b) <= teamsMaxBytes
	})
	if err != nil {
		return nil, err
	}
	return marshal(teamsCardOf(n, f, i))
}

// teamsCardOf renders n showing its first fields fields and items items.
func teamsCardOf(n Notice, fields, items int) teamsMessage {
	sev := severityOf(n)
	body := []teamsElement{{
		Type: "TextBlock", Text: clip(title(n), teamsMaxTitle, nil),
		Size: "Medium", Weight: "Bolder", Color: teamsColor[sev], Wrap: true,
	}}
	if s := strings.TrimSpace(n.Summary); s != "" {
		body = append(body, teamsElement{Type: "TextBlock", Text: clip(s, teamsMaxSummary, nil), Wrap: true})
	}
	if fields > 0 {
		set := teamsElement{Type: "FactSet"}
		for _, fl := range n.Fields[:fields] {
			set.Facts = append(set.Facts, teamsFact{
				Title: clip(oneLine(fl.Name), teamsMaxFactKey, nil),
				Value: clip(strings.TrimSpace(fl.Value), teamsMaxFact, nil),
			})
		}
		body = append(body, set)
	}
	for k, it := range n.Items[:items] {
		name, rest := itemLine(it)
		text := "• "
		if name != "" {
			text += "**" + clip(name, teamsMaxItem/4, nil) + "**"
			if rest != "" {
				text += ": "
			}
		}
		e := teamsElement{Type: "TextBlock", Text: text + clip(rest, teamsMaxItem-units(text), nil), Wrap: true}
		if k > 0 {
			e.Spacing = "None" // one list, not a column of paragraphs
		}
		body = append(body, e)
	}
	if note := omitted(len(n.Fields)-fields, len(n.Items)-items); note != "" {
		body = append(body, teamsElement{Type: "TextBlock", Text: note, IsSubtle: true, Wrap: true})
	}
	footer := teamsLabel[sev]
	if t := when(n); t != "" {
		footer += " · " + t
	}
	footer += " · Notice " + n.ID
	body = append(body, teamsElement{Type: "TextBlock", Text: footer, Size: "Small", IsSubtle: true, Wrap: true})

	return teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: teamsCardType,
			Content: teamsCard{
				Schema: teamsCardSchema, Type: "AdaptiveCard", Version: teamsCardVersion,
				Body: body, MSTeams: map[string]string{"width": "Full"},
			},
		}},
	}
}
