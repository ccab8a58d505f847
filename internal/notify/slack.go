package notify

import (
	"strings"
)

// Slack's limits on a message (docs.slack.dev, "Block Kit" reference: blocks, the header and
// section blocks and text objects), all in characters.
const (
	slackMaxBlocks     = 50   // blocks in a message
	slackMaxHeader     = 150  // a header block's plain_text
	slackMaxText       = 3000 // a section's text, a text object in a context block
	slackMaxFields     = 10   // text objects in a section's fields
	slackMaxFieldText  = 2000 // each of them
	slackMaxContext    = 10   // elements of a context block
	slackMaxFallback   = 3000 // the top-level text, shown in notifications; ours is short anyway
	slackMaxBlocksText = 12000
	// slackMaxBlocksText bounds the text of all blocks together. Slack documents no such
	// limit, but refuses messages whose blocks hold somewhat over 13,000 characters in total
	// (msg_blocks_too_long); this stays clear of it.
)

// The severities as Slack shows them: an emoji in the header, a word in the context block.
var slackSeverity = map[string]struct{ emoji, label string }{
	SeverityInfo:    {":information_source:", "Info"},
	SeverityWarning: {":warning:", "Warning"},
	SeverityError:   {":rotating_light:", "Error"},
}

// slackMessage is the body of a Slack incoming webhook: Text is the fallback shown in
// notifications and where blocks cannot be, Blocks the message itself.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackBlock is one block of the types slackBody uses: header (Text, plain_text), section
// (Text or Fields, mrkdwn) and context (Elements, mrkdwn).
type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// slackText is a text object: plain_text or mrkdwn.
type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// slackBody renders n, which is valid, as a Slack message:
//
//  1. a header block: the severity's emoji and the subject;
//  2. a section with the summary, if there is one;
//  3. the fields as "*Name:* value", in sections of up to ten fields;
//  4. the items as a bulleted list, "• *name*: status (detail)", in sections of up to 3,000
//     characters;
//  5. a context block: the severity, the time and the notice ID.
//
// The fallback text is the severity and the subject, then the summary. Every text is cut to
// its limit, and when the blocks would be too many or too long the last items (and, if need be,
// fields) are left out and a line says so. Text from n is escaped (&, < and >), so that it
// cannot mention @channel or form a link.
func slackBody(n Notice) slackMessage {
	sev := slackSeverity[severityOf(n)]
	fallback := sev.label + ": " + title(n)
	if s := strings.TrimSpace(n.Summary); s != "" {
		fallback += "\n" + s
	}
	f, i := fit(len(n.Fields), len(n.Items), func(f, i int) bool {
		return slackFits(slackBlocks(n, f, i))
	})
	return slackMessage{
		Text:   clip(fallback, slackMaxFallback, slackEscape),
		Blocks: slackBlocks(n, f, i),
	}
}

// slackBlocks renders n's blocks showing its first fields fields and items items.
func slackBlocks(n Notice, fields, items int) []slackBlock {
	sev := slackSeverity[severityOf(n)]
	blocks := []slackBlock{{
		Type: "header",
		// plain_text is shown as it is: nothing to escape.
		Text: &slackText{Type: "plain_text", Text: clip(sev.emoji+" "+title(n), slackMaxHeader, nil), Emoji: true},
	}}
	if s := strings.TrimSpace(n.Summary); s != "" {
		blocks = append(blocks, slackSection(clip(s, slackMaxText, slackEscape)))
	}

	for start := 0; start < fields; start += slackMaxFields {
		b := slackBlock{Type: "section"}
		for _, fl := range n.Fields[start:min(start+slackMaxFields, fields)] {
			// The name in bold, kept short enough to leave room for the value.
			name := clip(oneLine(fl.Name), slackMaxFieldText/4, slackEscape)
			text := "*" + name + ":* "
			if name == "" {
				text = ""
			}
			text += clip(strings.TrimSpace(fl.Value), slackMaxFieldText-units(text), slackEscape)
			if text == "" {
				text = " "
			}
			b.Fields = append(b.Fields, slackText{Type: "mrkdwn", Text: text})
		}
		blocks = append(blocks, b)
	}

	var list strings.Builder
	for _, it := range n.Items[:items] {
		name, rest := itemLine(it)
		line := "• "
		if name != "" {
			line += "*" + clip(name, slackMaxText/4, slackEscape) + "*"
			if rest != "" {
				line += ": "
			}
		}
		line += clip(rest, slackMaxText-units(line), slackEscape)
		if list.Len() > 0 && units(list.String())+1+units(line) > slackMaxText {
			blocks = append(blocks, slackSection(list.String()))
			list.Reset()
		}
		if list.Len() > 0 {
			list.WriteString("\n")
		}
		list.WriteString(line)
	}
	if list.Len() > 0 {
		blocks = append(blocks, slackSection(list.String()))
	}
	if note := omitted(len(n.Fields)-fields, len(n.Items)-items); note != "" {
		blocks = append(blocks, slackSection("_"+note+"_"))
	}

	context := []slackText{{Type: "mrkdwn", Text: "*" + sev.label + "*"}}
	if t := when(n); t != "" {
		context = append(context, slackText{Type: "mrkdwn", Text: t})
	}
	// The ID is printable ASCII of at most 200 characters, so it fits escaped.
	context = append(context, slackText{Type: "mrkdwn", Text: "Notice " + clip(n.ID, slackMaxText-7, slackEscape)})
	return append(blocks, slackBlock{Type: "context", Elements: context})
}

func slackSection(mrkdwn string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: mrkdwn}}
}

// slackFits reports whether blocks are within the limits of a whole message; slackBlocks keeps
// each text within its own.
func slackFits(blocks []slackBlock) bool {
	if len(blocks) > slackMaxBlocks {
		return false
	}
	total := 0
	for _, b := range blocks {
		if b.Text != nil {
			total += units(b.Text.Text)
		}
		for _, t := range b.Fields {
			total += units(t.Text)
		}
		for _, t := range b.Elements {
			total += units(t.Text)
		}
	}
	return total <= slackMaxBlocksText
}

// slackEscape escapes the three characters Slack's text formatting reserves, and nothing else,
// as Slack asks.
func slackEscape(r rune) string {
	switch r {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return string(r)
}
