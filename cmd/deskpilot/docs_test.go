package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command and flag that docs/api.md's synopsis ("## The command line") names is one the
// binary has: scripts are written from that block.
func TestDocsSynopsisNamesRealCommands(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## The command line\n\n```\n")
	block, _, closed := strings.Cut(rest, "\n```")
	if !ok || !closed {
		t.Fatal(`docs/api.md has no "## The command line" code block`)
	}
	root := (&cli{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}).rootCommand()
	flagRE := regexp.MustCompile(`--[a-z][a-z-]*`)
	var cmds []*cobra.Command
	lines := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "(") // "(or deskpilot --version)"
		if strings.HasPrefix(line, "deskpilot ") {
			lines++
			words := strings.Fields(line)[1:]
			var path []string
			for _, w := range words {
				if strings.HasPrefix(w, "[") || strings.HasPrefix(w, "-") || strings.ToUpper(w) == w {
					break
				}
				path = append(path, w)
			}
			cmds = nil
			for _, alt := range alternatives(path) {
				c, _, err := root.Find(alt)
				if err != nil || c == root || c.Name() != alt[len(alt)-1] {
					t.Errorf("docs/api.md names %q, which the binary does not have", "deskpilot "+strings.Join(alt, " "))
					continue
				}
				cmds = append(cmds, c)
			}
		}
		// A continuation line's flags are the previous line's commands'.
		for _, cmd := range cmds {
			for _, f := range flagRE.FindAllString(line, -1) {
				if cmd.Flags().Lookup(f[2:]) == nil && cmd.InheritedFlags().Lookup(f[2:]) == nil {
					t.Errorf("docs/api.md gives %s the flag %s, which it does not have", cmd.CommandPath(), f)
				}
			}
		}
	}
	if lines < 10 {
		t.Errorf("read %d command lines from docs/api.md's synopsis; the block's shape changed", lines)
	}
}

// alternatives expands "a b|c" into [a b] and [a c].
func alternatives(path []string) [][]string {
	out := [][]string{nil}
	for _, w := range path {
		var next [][]string
		for _, p := range out {
			for _, alt := range strings.Split(w, "|") {
				next = append(next, append(append([]string(nil), p...), alt))
			}
		}
		out = next
	}
	return out
}
