package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/deskpilot/deskpilot/internal/api"
)

// cli is one run of the command line: where it writes, what it reads of the environment,
// and the global flags.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string

	server, token, output string
}

// Output formats of -o.
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "deskpilot",
		Short: "Lifecycle chores for AppStream 2.0 fleets and WorkSpaces, done safely",
		Long: `deskpilot rolls AppStream 2.0 images out to fleets in maintenance windows (with waves,
health gates and rollback) and resets non-persistent WorkSpaces after their users log off.

"deskpilot serve" runs the daemon; the other commands talk to its HTTP API at --server
(default $` + ServerEnv + `, else ` + defaultServer + `) with the token in --token or $` + TokenEnv + `.
docs/api.md lists every command, its output and its exit code.`,
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch c.output {
			case outTable, outJSON, outYAML:
				return nil
			}
			return usageErrorf(cmd, "-o must be table, json or yaml, not %q", c.output)
		},
	}
	root.SetVersionTemplate("deskpilot {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf(cmd, "%v", err)
	})
	server := c.getenv(ServerEnv)
	if server == "" {
		server = defaultServer
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.server, "server", server, "the daemon's API address ($"+ServerEnv+")")
	pf.StringVar(&c.token, "token", "", "the daemon's API token, for approve, cancel and rollback (default $"+TokenEnv+")")
	pf.StringVarP(&c.output, "output", "o", outTable, "output format: table, json or yaml")
	root.AddCommand(newServeCommand(c), newDemoCommand(c), newSimCommand(), c.rolloutCommand(), c.resetsCommand(), c.fleetsCommand(),
		c.statusCommand(), c.configCommand(), c.iamPolicyCommand(), c.bootstrapCommand(), newVersionCommand())
	return root
}

// client is the API client of the global flags.
func (c *cli) client() *api.Client {
	token := c.token
	if token == "" {
		token = c.getenv(TokenEnv)
	}
	user := c.getenv("USER")
	if user == "" {
		user = c.getenv("USERNAME")
	}
	return &api.Client{BaseURL: c.server, Token: token, User: user}
}

// group is a command that only holds others: alone it prints its help, with an unknown
// command it is a usage error.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return usageErrorf(cmd, "unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd
}

// exactArgs wants n arguments, named as in names for the error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(names) == 0 {
			return usageErrorf(cmd, "%s takes no arguments, got %q", cmd.CommandPath(), args)
		}
		return usageErrorf(cmd, "%s needs %s, got %d arguments", cmd.CommandPath(), strings.Join(names, " "), len(args))
	}
}

// emit writes v as -o asks: JSON (the API's DTO as the daemon sent it), YAML (the same keys),
// or the table table draws for people.
func (c *cli) emit(v any, table func(w io.Writer)) error {
	switch c.output {
	case outJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(append(b, '\n'))
		return err
	case outYAML:
		b, err := toYAML(v)
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// toYAML writes v with its JSON names: its JSON read as YAML (JSON is YAML), in block style.
func toYAML(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var plain func(n *yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0 // the encoder quotes what needs it
		for _, k := range n.Content {
			plain(k)
		}
	}
	plain(&doc)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// when shows a time for people, in UTC; "-" for none.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func whenT(t time.Time) string { return when(&t) }

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cut shortens s to n characters for a table cell.
func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }
