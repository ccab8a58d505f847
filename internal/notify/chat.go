package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// What the Slack and Teams formats share: cutting text to a service's limits, choosing how
// much of a long notice to show, and the line that names the notice.

// ellipsis ends text that was cut.
const ellipsis = "…"

// units returns the length of s in UTF-16 code units, as JavaScript counts, and so as limits
// given "in characters" are most likely checked. It is never less than the number of runes, so
// a text within a limit in units is within it however the service counts.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// clip returns s with every rune passed through esc (nil keeps it as it is), at most max UTF-16
// units long: a text that must be cut ends in ellipsis, and is cut between runes, so never in
// the middle of an escape such as "&amp;". max must be at least 1.
func clip(s string, max int, esc func(r rune) string) string {
	piece := func(r rune) string {
		if esc == nil {
			return string(r)
		}
		return esc(r)
	}
	total := 0
	for _, r := range s {
		total += units(piece(r))
	}
	if total <= max {
		if esc == nil {
			return s
		}
		var b strings.Builder
		for _, r := range s {
			b.WriteString(piece(r))
		}
		return b.String()
	}
	var b strings.Builder
	room := max - units(ellipsis)
	for _, r := range s {
		p := piece(r)
		if units(p) > room {
			break
		}
		room -= units(p)
		b.WriteString(p)
	}
	return strings.TrimRight(b.String(), " \n\t") + ellipsis
}

// fit decides how much of a notice with the given numbers of fields and items to show, given
// fits, which reports whether a rendering showing the first f fields and i items is within the
// service's limits. It returns every field and as many items as fit; failing that, as many
// fields as fit and no items. Showing fewer never makes a rendering larger, so it searches by
// halving; fits(0, 0) must hold.
func fit(fields, items int, fits func(f, i int) bool) (int, int) {
	if fits(fields, items) {
		return fields, items
	}
	if fits(fields, 0) {
		return fields, most(items, func(i int) bool { return fits(fields, i) })
	}
	return most(fields, func(f int) bool { return fits(f, 0) }), 0
}

// most returns the largest k in [0, n] for which ok(k) holds, given that ok(0) does and that
// ok(k) implies ok(k-1).
func most(n int, ok func(k int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// omitted says what a rendering left out, or "" when it left out nothing.
func omitted(fields, items int) string {
	var parts []string
	if fields > 0 {
		parts = append(parts, plural(fields, "field"))
	}
	if items > 0 {
		parts = append(parts, plural(items, "item"))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s not shown here: the message would be too long.", ellipsis, strings.Join(parts, " and "))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 more " + noun
	}
	return fmt.Sprintf("%d more %ss", n, noun)
}

// title returns n's subject on one line, or its kind if the subject is blank.
func title(n Notice) string {
	if s := oneLine(n.Subject); s != "" {
		return s
	}
	return n.Kind
}

// itemLine is one item as the email's text part writes it: "name: status (detail)", without
// the parts that are empty.
func itemLine(it Item) (name, rest string) {
	name = oneLine(it.Name)
	rest = oneLine(it.Status)
	if d := oneLine(it.Detail); d != "" {
		if rest != "" {
			rest += " "
		}
		rest += "(" + d + ")"
	}
	return name, rest
}

// when returns n.Time as the email writes it, or "" when unset.
func when(n Notice) string {
	if n.Time.IsZero() {
		return ""
	}
	return n.Time.UTC().Format(time.DateTime + " UTC")
}
